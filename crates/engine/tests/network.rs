//! Container networking end to end, through the `strata` CLI with the real CNI plugins:
//! the default bridge network and user networks (addresses, reaching peers by IP and by
//! name), published ports (from the host on 127.0.0.1, from another host through the
//! node's address, host port 0 and -P), a port already bound, nothing left after `rm` or
//! after a monitor is killed, and the network commands. Each test has its own root, run
//! root, networks, bridges and subnets, and removes them.

mod net;

use net::{Engine, OtherHost, IMAGE};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use strata_testkit::free_port;

fn ip_of(e: &Engine, name: &str) -> String {
    e.inspect(name)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string()
}

fn in_subnet(ip: &str, subnet: &str) -> bool {
    ip.starts_with(subnet.trim_end_matches("0/24"))
}

/// Runs `cmd` in a container until it succeeds (a peer's server may still be starting).
fn exec_until(e: &Engine, name: &str, cmd: &[&str], limit: Duration) -> String {
    let t0 = Instant::now();
    let mut args = vec!["exec", name];
    args.extend_from_slice(cmd);
    loop {
        let o = e.run(&args);
        if o.status.success() {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(
            t0.elapsed() < limit,
            "{cmd:?} in {name} kept failing: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn default_network_gives_an_address_and_peers_reach_each_other_by_ip_and_name() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let a = e.start("a1", &[], &["sleep", "300"]);
    let b = e.start("b1", &[], &["sleep", "300"]);
    let ia = e.inspect("a1");
    let ip_a = ia["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(in_subnet(&ip_a, &e.subnet), "{ip_a} in {}", e.subnet);
    assert_eq!(
        ia["NetworkSettings"]["Networks"][&e.net]["IPAddress"],
        ip_a.as_str()
    );
    assert_eq!(ia["NetworkSettings"]["IPPrefixLen"], 24);
    let veths = Engine::bridge_ports(&e.bridge);
    assert_eq!(veths.len(), 2, "one veth each on {}", e.bridge);
    // By address, then by name and short id both ways: a1's /etc/hosts learnt of b1,
    // which started after it, in place.
    e.ok(&["exec", "b1", "ping", "-c1", "-W3", &ip_a]);
    e.ok(&["exec", "b1", "ping", "-c1", "-W3", "a1"]);
    e.ok(&["exec", "a1", "ping", "-c1", "-W3", "b1"]);
    e.ok(&["exec", "a1", "ping", "-c1", "-W3", &b[..12]]);
    let hosts = e.ok(&["exec", "a1", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{ip_a}\ta1 {}", &a[..12])),
        "{hosts}"
    );
    // b1 leaves: a1 forgets it, and nothing of b1 is left.
    e.ok(&["rm", "-f", "b1"]);
    let hosts = e.ok(&["exec", "a1", "cat", "/etc/hosts"]);
    assert!(
        !hosts.split_whitespace().any(|w| w == "b1" || w == &b[..12]),
        "{hosts}"
    );
    e.assert_gone(&b, &[]);
    e.ok(&["rm", "-f", "a1"]);
    e.assert_gone(&a, &veths);
    assert_eq!(Engine::bridge_ports(&e.bridge), Vec::<String>::new());
}

#[test]
fn a_container_joins_and_leaves_more_networks() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let (front, _) = e.network("tn-front");
    let (back, back_subnet) = e.network("tn-back");
    let db = e.start("db", &["--network", "tn-back"], &["sleep", "300"]);
    let web = e.start("web", &["--network", "tn-front"], &["sleep", "300"]);
    assert!(!e
        .run(&["exec", "web", "ping", "-c1", "-W1", "db"])
        .status
        .success());
    // Running, web joins tn-back: one more interface, an address there, db's name and db
    // finding it by name and alias; its default route stays its first network's.
    e.ok(&["network", "connect", "--alias", "api", "tn-back", "web"]);
    let doc = e.inspect("web");
    let ip_back = doc["NetworkSettings"]["Networks"]["tn-back"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(in_subnet(&ip_back, &back_subnet), "{doc}");
    let addrs = e.ok(&["exec", "web", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(addrs.contains(&format!("{ip_back}/24")), "{addrs}");
    let routes = e.ok(&["exec", "web", "ip", "route"]);
    let default: Vec<&str> = routes
        .lines()
        .filter(|l| l.starts_with("default"))
        .collect();
    assert!(
        default.len() == 1 && default[0].contains("dev eth0"),
        "{routes}"
    );
    assert_eq!(Engine::bridge_ports(&back).len(), 2);
    e.ok(&["exec", "web", "ping", "-c1", "-W3", "db"]);
    e.ok(&["exec", "db", "ping", "-c1", "-W3", "web"]);
    e.ok(&["exec", "db", "ping", "-c1", "-W3", "api"]);
    let members: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "tn-back"])).unwrap();
    assert!(
        members[0]["containers"][&web]["interfaces"]["eth1"].is_object(),
        "{members}"
    );
    // Connected twice, or the first network left while running: refused, nothing changed.
    let again = e.run(&["network", "connect", "tn-back", "web"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already connected"));
    let first = e.run(&["network", "disconnect", "tn-front", "web"]);
    assert!(String::from_utf8_lossy(&first.stderr).contains("stop it"));
    // It leaves tn-back: its interface goes and db forgets it.
    e.ok(&["network", "disconnect", "tn-back", "web"]);
    assert_eq!(Engine::bridge_ports(&back).len(), 1);
    assert!(!e
        .run(&["exec", "web", "ip", "link", "show", "eth1"])
        .status
        .success());
    let hosts = e.ok(&["exec", "db", "cat", "/etc/hosts"]);
    assert!(
        !hosts.split_whitespace().any(|w| w == "web" || w == "api"),
        "{hosts}"
    );
    // Stopped, it is connected from its next start; `--network a,b` joins both at once.
    e.ok(&["stop", "-t", "0", "web"]);
    e.ok(&["network", "connect", "tn-back", "web"]);
    e.ok(&["start", "web"]);
    e.ok(&["exec", "web", "ping", "-c1", "-W3", "db"]);
    let both = e.start(
        "both",
        &["--network", "tn-front,tn-back"],
        &["sleep", "300"],
    );
    e.ok(&["exec", "both", "ping", "-c1", "-W3", "db"]);
    e.ok(&["exec", "both", "ping", "-c1", "-W3", "web"]);
    assert_eq!(Engine::bridge_ports(&back).len(), 3);
    assert!(
        !e.run(&["network", "rm", "tn-front"]).status.success(),
        "in use"
    );
    let veths = [Engine::bridge_ports(&front), Engine::bridge_ports(&back)].concat();
    e.ok(&["rm", "-f", "web", "db", "both"]);
    for id in [&web, &db, &both] {
        e.assert_gone(id, &veths);
    }
    assert!(Engine::bridge_ports(&front).is_empty() && Engine::bridge_ports(&back).is_empty());
    e.ok(&["network", "rm", "tn-front", "tn-back"]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let (bridge, subnet) = e.network("tn-user");
    let s = e.start(
        "srv",
        &["--network", "tn-user"],
        &["httpd", "-f", "-p", "80", "-h", "/var/www"],
    );
    let c = e.start("cli", &["--network", "tn-user"], &["sleep", "300"]);
    assert!(in_subnet(&ip_of(&e, "srv"), &subnet));
    assert_eq!(Engine::bridge_ports(&bridge).len(), 2);
    assert_eq!(
        Engine::bridge_ports(&e.bridge).len(),
        0,
        "not on the default"
    );
    let body = exec_until(
        &e,
        "cli",
        &["timeout", "5", "wget", "-q", "-O-", "http://srv/"],
        Duration::from_secs(20),
    );
    assert_eq!(body, "hello from strata\n");
    e.ok(&["exec", "srv", "ping", "-c1", "-W3", "cli"]);
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "tn-user"])).unwrap();
    let members = doc[0]["containers"].as_object().unwrap();
    assert!(
        members.contains_key(&s) && members.contains_key(&c),
        "{doc}"
    );
    assert_eq!(members[&s]["name"], "srv");
    // Renamed, it is found by its new name.
    e.ok(&["rename", "srv", "web"]);
    e.ok(&["exec", "cli", "ping", "-c1", "-W3", "web"]);
    e.ok(&["rename", "web", "srv"]);
    // Outbound NAT: one rule set for the network, none per container.
    let masq =
        format!("-A POSTROUTING -s {subnet} -m comment --comment \"strata network tn-user\"");
    assert!(net::nat_rules().contains(&masq), "{}", net::nat_rules());
    let veths = Engine::bridge_ports(&bridge);
    e.ok(&["rm", "-f", "srv", "cli"]);
    e.assert_gone(&s, &veths);
    e.assert_gone(&c, &veths);
    e.ok(&["network", "rm", "tn-user"]);
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    assert!(!net::nat_rules().contains(&masq));
}

#[test]
fn a_published_port_is_reached_from_the_host_and_from_another_host() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let port = free_port();
    let httpd = ["httpd", "-f", "-p", "80", "-h", "/var/www"];
    let w1 = e.start("w1", &["-p", &format!("127.0.0.1:{port}:80")], &httpd);
    // -P: the image exposes 80/tcp; with -p 0:81 too, both on free host ports.
    let w2 = e.start("w2", &["-P", "-p", "0:81"], &httpd);
    let body = net::http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(20));
    assert_eq!(body.as_deref(), Some("hello from strata\n"));
    // The host ports picked for w2 are recorded: port, inspect and ps show them.
    let out = e.ok(&["port", "w2"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let p80: u16 = e
        .ok(&["port", "w2", "80/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(p80, 0);
    assert!(
        lines.contains(&format!("80/tcp -> 0.0.0.0:{p80}").as_str()),
        "{out}"
    );
    let p81 = lines
        .iter()
        .find_map(|l| l.strip_prefix("81/tcp -> 0.0.0.0:"))
        .unwrap()
        .parse::<u16>()
        .unwrap();
    assert!(p81 != 0 && p81 != p80);
    let ports = &e.inspect("w2")["NetworkSettings"]["Ports"];
    assert_eq!(ports["80/tcp"][0]["HostPort"], p80.to_string(), "{ports}");
    let ps = e.ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert!(ps.contains(&format!("0.0.0.0:{p80}->80/tcp")), "{ps}");
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let body = net::http_get(&format!("127.0.0.1:{p80}"), Duration::from_secs(20));
    assert_eq!(body.as_deref(), Some("hello from strata\n"));
    // Another host reaches w2 through the node's address; w1 is bound to 127.0.0.1 only.
    let other = OtherHost::new();
    let url = |p: u16| format!("http://{}:{p}/", other.node_ip);
    assert_eq!(
        other.fetch(&url(p80), Duration::from_secs(20)).as_deref(),
        Some("hello from strata\n")
    );
    assert_eq!(other.fetch(&url(port), Duration::ZERO), None);
    let veths = Engine::bridge_ports(&e.bridge);
    e.ok(&["rm", "-f", "w1", "w2"]);
    e.assert_gone(&w1, &veths);
    e.assert_gone(&w2, &veths);
    assert!(net::http_get(&format!("127.0.0.1:{p80}"), Duration::ZERO).is_none());
}

#[test]
fn a_port_already_bound_fails_clearly_and_leaves_nothing() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let (code, err) = e.fail(&[
        "run",
        "--name",
        "busy",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMAGE,
        "true",
    ]);
    assert_eq!(code, 125);
    assert_eq!(
        err,
        format!(
            "Error: network: port 127.0.0.1:{port} already in use by pid {} ({}) [layer: node]\n",
            std::process::id(),
            comm.trim()
        )
    );
    let busy = e.inspect("busy");
    let id = busy["Id"].as_str().unwrap();
    assert_eq!(busy["State"]["Status"], "created");
    e.assert_gone(id, &[]);
    assert_eq!(Engine::bridge_ports(&e.bridge), Vec::<String>::new());
    // The wildcard address conflicts too; with --rm the container goes as well.
    let (_, err) = e.fail(&["run", "--rm", "-p", &format!("{port}:80"), IMAGE, "true"]);
    assert!(
        err.contains(&format!("port 0.0.0.0:{port} already in use by pid")),
        "{err}"
    );
    assert_eq!(e.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    // A port another container publishes (nothing binds it: portmap's DNAT) is named so.
    drop(l);
    let h = e.start(
        "holder",
        &["-p", &format!("127.0.0.1:{port}:80")],
        &["sleep", "300"],
    );
    let (_, err) = e.fail(&["run", "-d", "-p", &format!("{port}:80"), IMAGE, "true"]);
    assert!(
        err.contains(&format!(
            "port 0.0.0.0:{port} already in use by container holder"
        )),
        "{err}"
    );
    assert_eq!(Engine::bridge_ports(&e.bridge).len(), 1);
    e.ok(&["rm", "-af"]);
    e.assert_gone(&h, &[]);
    e.assert_gone(id, &[]);
}

#[test]
fn nothing_is_left_after_rm_nor_after_the_monitor_is_killed() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let port = free_port();
    let k = e.start(
        "k1",
        &["-p", &format!("127.0.0.1:{port}:80")],
        &["httpd", "-f", "-p", "80", "-h", "/var/www"],
    );
    assert!(net::http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(20)).is_some());
    assert!(
        net::all_rules().contains(&k),
        "portmap's rules name the container"
    );
    let veths = Engine::bridge_ports(&e.bridge);
    assert_eq!(veths.len(), 1);
    let monitor = e.inspect("k1")["State"]["ConmonPid"].as_i64().unwrap() as i32;
    assert!(monitor > 0);
    // SAFETY: kill of the monitor this test started (through the CLI), by its pid.
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    let t0 = Instant::now();
    while std::path::Path::new(&format!("/proc/{monitor}/stat")).exists()
        && std::fs::read_to_string(format!("/proc/{monitor}/stat"))
            .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the monitor survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    e.ok(&["rm", "-f", "k1"]);
    e.assert_gone(&k, &veths);
    // `run --rm` gives everything back too.
    e.ok(&[
        "run",
        "--rm",
        "--name",
        "r1",
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "true",
    ]);
    assert_eq!(e.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(Engine::bridge_ports(&e.bridge), Vec::<String>::new());
    let netns: Vec<_> = std::fs::read_dir(e.runroot().join("netns"))
        .map(|d| d.flatten().map(|x| x.file_name()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "namespaces left: {netns:?}");
    let ipam = e.root().join("networks/ipam").join(&e.net);
    let leases: Vec<String> = std::fs::read_dir(&ipam)
        .unwrap()
        .flatten()
        .map(|x| x.file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    assert!(leases.is_empty(), "leases left: {leases:?}");
}

#[test]
fn network_create_ls_inspect_rm() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let (bridge, subnet) = e.network("tn-a");
    let ls: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "ls", "--format", "json"])).unwrap();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"tn-a") && names.contains(&e.net.as_str()),
        "{ls}"
    );
    let q = e.ok(&["network", "ls", "-q"]);
    assert!(q.lines().any(|l| l == "tn-a"), "{q}");
    let table = e.ok(&["network", "ls"]);
    assert!(table.starts_with("NETWORK ID"), "{table}");
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "tn-a"])).unwrap();
    assert_eq!(doc[0]["network_interface"], bridge.as_str());
    assert_eq!(doc[0]["driver"], "bridge");
    assert_eq!(doc[0]["subnets"][0]["subnet"], subnet.as_str());
    let gw = format!("{}1", subnet.trim_end_matches("0/24"));
    assert_eq!(doc[0]["subnets"][0]["gateway"], gw.as_str());
    assert!(e.root().join("networks/tn-a.conflist").is_file());
    assert_eq!(
        e.ok(&["network", "inspect", "-f", "{{.name}}", "tn-a"])
            .trim(),
        "tn-a"
    );
    // Refusals: an overlapping subnet, a name in use, an unknown network.
    let (_, err) = e.fail(&["network", "create", "--subnet", &subnet, "tn-b"]);
    assert!(err.contains("overlaps network tn-a"), "{err}");
    let (_, err) = e.fail(&["network", "create", "tn-a"]);
    assert!(err.contains("network tn-a: already exists"), "{err}");
    let (_, err) = e.fail(&["network", "rm", "nosuch"]);
    assert!(err.contains("no such network: nosuch"), "{err}");
    let (_, err) = e.fail(&["run", "--rm", "--network", "nosuch", IMAGE, "true"]);
    assert!(err.contains("no such network: nosuch"), "{err}");
    // In use (even by a container that never ran): refused; --force removes it first.
    e.ok(&[
        "create",
        "--name",
        "user1",
        "--network",
        "tn-a",
        IMAGE,
        "true",
    ]);
    let (code, err) = e.fail(&["network", "rm", "tn-a"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("network tn-a is in use by container(s) user1"),
        "{err}"
    );
    e.ok(&["network", "rm", "-f", "tn-a"]);
    assert_eq!(e.ok(&["ps", "-a", "-q"]), "");
    assert!(!e.run(&["network", "exists", "tn-a"]).status.success());
    assert!(!e.root().join("networks/tn-a.conflist").exists());
    // Without --subnet a free one is picked, apart from the other networks'.
    e.ok(&["network", "create", "tn-c"]);
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "tn-c"])).unwrap();
    let picked = doc[0]["subnets"][0]["subnet"].as_str().unwrap().to_string();
    assert_ne!(picked, e.subnet);
    assert!(e.run(&["network", "exists", "tn-c"]).status.success());
    e.ok(&["network", "rm", "tn-c"]);
}

#[test]
fn a_plugin_failing_half_way_leaves_nothing() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    // The bridge plugin's ADD succeeds (veth, lease), then portmap's fails.
    e.fake_portmap(r#"echo '{"cniVersion":"1.0.0","code":999,"msg":"injected failure"}'; exit 1"#);
    let port = free_port();
    let (code, err) = e.fail(&[
        "run",
        "--name",
        "f1",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMAGE,
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(err.contains("cni: portmap add of container"), "{err}");
    assert!(err.contains("injected failure [layer: node]"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let id = e.inspect("f1")["Id"].as_str().unwrap().to_string();
    e.assert_gone(&id, &[]);
    let t0 = Instant::now();
    while !Engine::bridge_ports(&e.bridge).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "a veth is left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_pod_whose_network_fails_while_its_infra_starts_leaves_nothing() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    // The infra's monitor creates it while the plugins run; the plugins then fail.
    e.fake_portmap(r#"echo '{"cniVersion":"1.0.0","code":999,"msg":"injected failure"}'; exit 1"#);
    let port = free_port();
    e.ok(&[
        "pod",
        "create",
        "--name",
        "pf",
        "-p",
        &format!("127.0.0.1:{port}:80"),
    ]);
    let (code, err) = e.fail(&["pod", "start", "pf"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("injected failure"), "{err}");
    let infra = e.inspect_pod("pf")["InfraContainerID"]
        .as_str()
        .unwrap()
        .to_string();
    let v = e.inspect(&infra);
    assert_ne!(
        v["State"]["Status"], "running",
        "the infra was not left running: {v}"
    );
    e.assert_gone(&infra, &[]);
    assert!(
        strata_testkit::processes_with(&infra).is_empty(),
        "no monitor or pause process of the infra is left"
    );
    e.ok(&["pod", "rm", "-f", "pf"]);
}

#[test]
fn a_cli_killed_during_attach_is_cleaned_by_rm() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    // portmap's ADD kills the CLI that runs it: the bridge's veth and lease, the namespace
    // and the mounted root filesystem are left, recorded as owed in the container's state.
    e.fake_portmap("kill -9 $PPID; exit 1");
    let port = free_port();
    let o = e.run(&[
        "run",
        "-d",
        "--name",
        "c1",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMAGE,
        "true",
    ]);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(libc::SIGKILL)
    );
    let id = e.inspect("c1")["Id"].as_str().unwrap().to_string();
    assert!(e.runroot().join("netns").join(&id).exists());
    assert_eq!(e.leases_of(&id).len(), 1, "the bridge plugin's lease");
    let veths = Engine::bridge_ports(&e.bridge);
    assert_eq!(veths.len(), 1);
    e.ok(&["rm", "-f", "c1"]);
    e.assert_gone(&id, &veths);
}

#[test]
fn the_default_network_avoids_what_the_host_uses() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    // This root says nothing about its default network: `strata`, its bridge and subnet
    // picked free of the host's interfaces, routes and CNI configurations.
    std::fs::remove_file(e.root().join("networks/default.json")).unwrap();
    let strata0_before = std::path::Path::new("/sys/class/net/strata0").exists();
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["network", "inspect", "strata"])).unwrap();
    let bridge = doc[0]["network_interface"].as_str().unwrap();
    let subnet = doc[0]["subnets"][0]["subnet"].as_str().unwrap();
    assert!(bridge.starts_with("strata"), "{doc}");
    assert!(
        bridge != "strata0" || !strata0_before,
        "another root's: {doc}"
    );
    if std::path::Path::new("/etc/cni/net.d/87-podman-bridge.conflist").exists() {
        assert!(!subnet.starts_with("10.88."), "podman's subnet: {doc}");
    }
    // Its bridge is made with the network (so that another root picking at the same time
    // sees the name and the subnet taken), and the subnet is routed to it alone.
    let routes = std::process::Command::new("ip")
        .args(["-4", "route", "show", "exact", subnet])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    assert_eq!(routes.lines().count(), 1, "{routes}");
    assert!(routes.contains(&format!("dev {bridge} ")), "{routes}");
    e.ok(&["network", "rm", "strata"]);
    assert!(!std::path::Path::new("/sys/class/net").join(bridge).exists());
}

/// The soak of the engine issue on the default bridge network: 200 run/rm cycles (attached
/// `run --rm` and detached `run -d` + `rm -f`, some with a published port), then nothing of
/// any of them is left: namespace, veth, IP lease, iptables rule, cgroup, mount, process.
#[test]
fn a_soak_of_run_rm_cycles_on_the_default_network_leaks_nothing() {
    if !net::prerequisites() {
        return;
    }
    let e = Engine::new();
    let mut ids = Vec::new();
    for i in 0..200 {
        let name = format!("soak{i}");
        if i % 2 == 0 {
            e.ok(&["run", "--rm", "--name", &name, net::IMAGE, "true"]);
        } else {
            let port = if i % 10 == 1 {
                vec!["-p".to_string(), format!("127.0.0.1:{}:80", free_port())]
            } else {
                vec![]
            };
            let mut args = vec!["run", "-d", "--name", &name];
            args.extend(port.iter().map(String::as_str));
            args.extend([net::IMAGE, "sleep", "30"]);
            ids.push(e.ok(&args).trim().to_string());
            e.ok(&["rm", "-f", &name]);
        }
    }
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(
        Engine::bridge_ports(&e.bridge).is_empty(),
        "veths left on {}",
        e.bridge
    );
    for id in &ids {
        e.assert_gone(id, &[]);
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            assert!(
                !h.path()
                    .join(e.cgroup_root.trim_start_matches('/'))
                    .join(id)
                    .exists(),
                "cgroup of {id} left"
            );
        }
    }
    let ns_left: Vec<_> = std::fs::read_dir(e.runroot().join("netns"))
        .map(|r| r.flatten().map(|x| x.file_name()).collect())
        .unwrap_or_default();
    assert!(ns_left.is_empty(), "namespaces left: {ns_left:?}");
    let root = e.dir.path().to_string_lossy().into_owned();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&root) && !m.ends_with("/netns"))
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let leases: Vec<_> = std::fs::read_dir(e.root().join("networks/ipam"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|n| std::fs::read_dir(n.path()).into_iter().flatten().flatten())
        .filter(|f| {
            f.file_name()
                .to_string_lossy()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|f| f.path())
        .collect();
    assert!(leases.is_empty(), "leases left: {leases:?}");
}
