//! SPDY/3.1, the transport kubelet's streaming clients (kubectl through the API server,
//! crictl) speak by default: framing and header compression, one connection's streams, and
//! the two Kubernetes protocols carried on them, remote-command (`v4.channel.k8s.io`: one
//! stream per stdin, stdout, stderr, error and resize) and port-forward
//! (`portforward.k8s.io`: a data and an error stream per forwarded connection).

pub mod conn;
pub mod exec;
pub mod frame;
pub mod headers;
pub mod port_forward;
