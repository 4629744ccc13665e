//! The smallest D-Bus client the systemd cgroup driver needs: one connection over a unix
//! socket (SASL EXTERNAL), method calls with basic, array, struct and variant arguments, and
//! replies and signals whose bodies are basic types. Little-endian only, as every x86 and arm64
//! bus daemon speaks.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A D-Bus value to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `g`
    Sig(String),
    /// `b`
    Bool(bool),
    /// `u`
    U32(u32),
    /// `t`
    U64(u64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `a<sig>` with the elements' signature.
    Array(String, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `v`
    Variant(Box<Value>),
}

impl Value {
    /// The value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Sig(_) => "g".into(),
            Value::Bool(_) => "b".into(),
            Value::U32(_) => "u".into(),
            Value::U64(_) => "t".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Array(sig, _) => format!("a{sig}"),
            Value::Struct(v) => format!("({})", v.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }

    fn alignment(&self) -> usize {
        match self {
            Value::Bool(_) | Value::U32(_) | Value::Str(_) | Value::Path(_) | Value::Array(..) => 4,
            Value::U64(_) | Value::Struct(_) => 8,
            Value::Byte(_) | Value::Sig(_) | Value::Variant(_) => 1,
        }
    }

    fn marshal(&self, b: &mut Vec<u8>) {
        pad(b, self.alignment());
        match self {
            Value::Byte(v) => b.push(*v),
            Value::Sig(s) => put_signature(b, s),
            Value::Bool(v) => b.extend_from_slice(&(*v as u32).to_le_bytes()),
            Value::U32(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::U64(v) => b.extend_from_slice(&v.to_le_bytes()),
            Value::Str(s) | Value::Path(s) => {
                b.extend_from_slice(&(s.len() as u32).to_le_bytes());
                b.extend_from_slice(s.as_bytes());
                b.push(0);
            }
            Value::Array(sig, items) => {
                let len_at = b.len();
                b.extend_from_slice(&[0; 4]);
                pad(b, sig_alignment(sig));
                let start = b.len();
                for i in items {
                    i.marshal(b);
                }
                let len = (b.len() - start) as u32;
                b[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => fields.iter().for_each(|f| f.marshal(b)),
            Value::Variant(v) => {
                put_signature(b, &v.signature());
                v.marshal(b);
            }
        }
    }
}

/// Alignment of the first type in a signature.
fn sig_alignment(sig: &str) -> usize {
    match sig.as_bytes().first() {
        Some(b'y' | b'g' | b'v') => 1,
        Some(b'n' | b'q') => 2,
        Some(b't' | b'x' | b'd' | b'(' | b'{') => 8,
        _ => 4,
    }
}

fn pad(b: &mut Vec<u8>, align: usize) {
    while !b.len().is_multiple_of(align) {
        b.push(0);
    }
}

fn put_signature(b: &mut Vec<u8>, sig: &str) {
    b.push(sig.len() as u8);
    b.extend_from_slice(sig.as_bytes());
    b.push(0);
}

/// Message types.
const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// A received message: what the driver looks at.
#[derive(Debug, Default, Clone)]
pub struct Message {
    /// 1 call, 2 return, 3 error, 4 signal.
    pub kind: u8,
    /// The serial of the call this answers.
    pub reply_serial: Option<u32>,
    /// Signal interface.
    pub interface: Option<String>,
    /// Signal member.
    pub member: Option<String>,
    /// Error name.
    pub error_name: Option<String>,
    /// Body signature.
    pub signature: String,
    /// Body values (strings for s/o/g, numbers as u64), when the body is basic types.
    pub body: Vec<Basic>,
}

/// A basic value read from a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Basic {
    /// An integer or boolean.
    Num(u64),
    /// A string, object path or signature.
    Text(String),
}

impl Basic {
    /// The text, if this is one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Basic::Text(s) => Some(s),
            Basic::Num(_) => None,
        }
    }
}

/// Reads basic values from a marshalled buffer.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or("D-Bus message truncated")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4);
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn text(&mut self, len: usize) -> Result<String, String> {
        let s = String::from_utf8_lossy(self.take(len)?).into_owned();
        self.take(1)?; // the terminating nul
        Ok(s)
    }

    /// One value of basic type `t`.
    fn basic(&mut self, t: u8) -> Result<Basic, String> {
        Ok(match t {
            b'y' => Basic::Num(self.take(1)?[0] as u64),
            b'b' | b'u' | b'i' => Basic::Num(self.u32()? as u64),
            b't' | b'x' => {
                self.align(8);
                let s = self.take(8)?;
                Basic::Num(u64::from_le_bytes(s.try_into().map_err(|_| "bad u64")?))
            }
            b's' | b'o' => {
                let n = self.u32()? as usize;
                Basic::Text(self.text(n)?)
            }
            b'g' => {
                let n = self.take(1)?[0] as usize;
                Basic::Text(self.text(n)?)
            }
            other => return Err(format!("D-Bus type {:?} not expected here", other as char)),
        })
    }
}

/// Parses one whole message (header and body bytes).
fn parse(buf: &[u8]) -> Result<Message, String> {
    if buf.len() < 16 {
        return Err("D-Bus message truncated".into());
    }
    if buf[0] != b'l' {
        return Err("D-Bus message is not little-endian".into());
    }
    let mut m = Message {
        kind: buf[1],
        ..Default::default()
    };
    let mut r = Reader { b: buf, pos: 12 };
    let fields_len = r.u32()? as usize;
    let fields_end = 16 + fields_len;
    while r.pos < fields_end {
        r.align(8);
        let code = r.take(1)?[0];
        let sig = r.basic(b'g')?.text().unwrap_or_default().to_string();
        let t = *sig
            .as_bytes()
            .first()
            .ok_or("D-Bus header field without type")?;
        let v = r.basic(t)?;
        match (code, v) {
            (2, Basic::Text(s)) => m.interface = Some(s),
            (3, Basic::Text(s)) => m.member = Some(s),
            (4, Basic::Text(s)) => m.error_name = Some(s),
            (5, Basic::Num(n)) => m.reply_serial = Some(n as u32),
            (8, Basic::Text(s)) => m.signature = s,
            _ => {}
        }
    }
    r.pos = fields_end;
    r.align(8);
    // Bodies of basic types only (what systemd's replies and JobRemoved carry); others are
    // left unread.
    if m.signature.bytes().all(|c| b"ybuitxsog".contains(&c)) {
        for t in m.signature.clone().bytes() {
            m.body.push(r.basic(t)?);
        }
    }
    Ok(m)
}

/// Where a method lives: the destination's bus name, the object path and the interface.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    /// Bus name of the peer.
    pub dest: &'a str,
    /// Object path.
    pub path: &'a str,
    /// Interface.
    pub iface: &'a str,
}

/// The bus daemon itself.
pub const BUS: Object<'static> = Object {
    dest: "org.freedesktop.DBus",
    path: "/org/freedesktop/DBus",
    iface: "org.freedesktop.DBus",
};

/// A connection to a bus.
pub struct Connection {
    sock: BufReader<UnixStream>,
    serial: u32,
    /// Signals received while waiting for a reply.
    pending: Vec<Message>,
}

impl Connection {
    /// Connects to `address` (`unix:path=...`; the first unix path of a `;` list) and says Hello.
    pub fn open(address: &str, timeout: Duration) -> Result<Connection, String> {
        let path = address
            .split(';')
            .find_map(|a| {
                a.strip_prefix("unix:")?
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("path="))
            })
            .ok_or_else(|| format!("D-Bus address {address:?}: no unix:path"))?;
        let s = UnixStream::connect(path).map_err(|e| format!("connect to D-Bus {path}: {e}"))?;
        s.set_read_timeout(Some(timeout)).ok();
        s.set_write_timeout(Some(timeout)).ok();
        let mut c = Connection {
            sock: BufReader::new(s),
            serial: 0,
            pending: Vec::new(),
        };
        c.auth()?;
        c.call(BUS, "Hello", &[])?;
        Ok(c)
    }

    fn auth(&mut self) -> Result<(), String> {
        // SAFETY: geteuid never fails.
        let uid = unsafe { libc::geteuid() }.to_string();
        let hex: String = uid.bytes().map(|c| format!("{c:02x}")).collect();
        let w = self.sock.get_mut();
        w.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())
            .map_err(|e| format!("D-Bus auth: {e}"))?;
        let mut line = String::new();
        self.sock
            .read_line(&mut line)
            .map_err(|e| format!("D-Bus auth: {e}"))?;
        if !line.starts_with("OK ") {
            return Err(format!("D-Bus auth refused: {}", line.trim()));
        }
        self.sock
            .get_mut()
            .write_all(b"BEGIN\r\n")
            .map_err(|e| format!("D-Bus auth: {e}"))
    }

    fn send(&mut self, to: Object, member: &str, args: &[Value]) -> Result<u32, String> {
        self.serial += 1;
        let sig: String = args.iter().map(Value::signature).collect();
        let mut fields = vec![
            field(1, Value::Path(to.path.into())),
            field(2, Value::Str(to.iface.into())),
            field(3, Value::Str(member.into())),
            field(6, Value::Str(to.dest.into())),
        ];
        if !sig.is_empty() {
            fields.push(field(8, Value::Sig(sig)));
        }
        let mut b = vec![b'l', METHOD_CALL, 0, 1, 0, 0, 0, 0];
        b.extend_from_slice(&self.serial.to_le_bytes());
        Value::Array("(yv)".into(), fields).marshal(&mut b);
        pad(&mut b, 8);
        let body_start = b.len();
        for a in args {
            a.marshal(&mut b);
        }
        let body_len = (b.len() - body_start) as u32;
        b[4..8].copy_from_slice(&body_len.to_le_bytes());
        self.sock
            .get_mut()
            .write_all(&b)
            .map_err(|e| format!("D-Bus {member}: {e}"))?;
        Ok(self.serial)
    }

    /// Reads the next message.
    fn read(&mut self) -> Result<Message, String> {
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| format!("D-Bus read: {e}"))?;
        let body_len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let fields_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
        let total = (16 + fields_len).div_ceil(8) * 8 + body_len;
        if total > 1 << 20 {
            return Err("D-Bus message too large".into());
        }
        let mut buf = head.to_vec();
        buf.resize(total, 0);
        self.sock
            .read_exact(&mut buf[16..])
            .map_err(|e| format!("D-Bus read: {e}"))?;
        parse(&buf)
    }

    /// Calls a method and returns its reply (an error reply becomes `Err("name: message")`).
    pub fn call(&mut self, to: Object, member: &str, args: &[Value]) -> Result<Message, String> {
        let serial = self.send(to, member, args)?;
        loop {
            let m = self.read()?;
            match (m.kind, m.reply_serial) {
                (METHOD_RETURN, Some(s)) if s == serial => return Ok(m),
                (ERROR, Some(s)) if s == serial => {
                    let name = m.error_name.clone().unwrap_or_default();
                    let text = m.body.first().and_then(Basic::text).unwrap_or("");
                    return Err(format!("{member}: {name}: {text}"));
                }
                (SIGNAL, _) => self.pending.push(m),
                _ => {}
            }
        }
    }

    /// Waits for a signal `iface.member` that `want` accepts, until `deadline`.
    pub fn wait_signal(
        &mut self,
        iface: &str,
        member: &str,
        deadline: Instant,
        want: &dyn Fn(&Message) -> bool,
    ) -> Result<Message, String> {
        let is = |m: &Message| {
            m.kind == SIGNAL
                && m.interface.as_deref() == Some(iface)
                && m.member.as_deref() == Some(member)
                && want(m)
        };
        if let Some(i) = self.pending.iter().position(is) {
            return Ok(self.pending.remove(i));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("timed out waiting for {member}"));
            }
            self.sock.get_ref().set_read_timeout(Some(left)).ok();
            let m = self.read()?;
            if is(&m) {
                return Ok(m);
            }
        }
    }
}

/// A header field: its code and its value as a variant.
fn field(code: u8, v: Value) -> Value {
    Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A method return as a bus daemon sends it: reply serial 7, body signature "o".
    fn method_return() -> Vec<u8> {
        let mut b = vec![b'l', METHOD_RETURN, 0, 1, 0, 0, 0, 0, 9, 0, 0, 0];
        Value::Array(
            "(yv)".into(),
            vec![field(5, Value::U32(7)), field(8, Value::Sig("o".into()))],
        )
        .marshal(&mut b);
        pad(&mut b, 8);
        let start = b.len();
        Value::Path("/org/freedesktop/systemd1/job/1".into()).marshal(&mut b);
        let n = (b.len() - start) as u32;
        b[4..8].copy_from_slice(&n.to_le_bytes());
        b
    }

    #[test]
    fn reads_a_method_return() {
        let m = parse(&method_return()).unwrap();
        assert_eq!((m.kind, m.reply_serial), (METHOD_RETURN, Some(7)));
        assert_eq!(m.signature, "o");
        assert_eq!(
            m.body,
            vec![Basic::Text("/org/freedesktop/systemd1/job/1".into())]
        );
    }

    #[test]
    fn marshals_with_dbus_alignment() {
        // a(sv) holding one ("x", <uint64 1>): array length, padding to 8, the string, the
        // variant's signature, padding to 8, the value.
        let mut b = Vec::new();
        Value::Array(
            "(sv)".into(),
            vec![Value::Struct(vec![
                Value::Str("x".into()),
                Value::Variant(Box::new(Value::U64(1))),
            ])],
        )
        .marshal(&mut b);
        let want: Vec<u8> = [
            &[24, 0, 0, 0, 0, 0, 0, 0][..], // length 24, pad to 8
            &[1, 0, 0, 0, b'x', 0],         // "x"
            &[1, b't', 0],                  // signature "t"
            &[0, 0, 0, 0, 0, 0, 0],         // pad to 8
            &[1, 0, 0, 0, 0, 0, 0, 0],      // 1
        ]
        .concat();
        assert_eq!(b, want);
    }

    #[test]
    fn hostile_messages_are_errors_not_panics() {
        let good = method_return();
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
        let mut bad = good.clone();
        bad[12] = 0xff; // header fields length far past the end
        assert!(parse(&bad).is_err());
        let mut be = good;
        be[0] = b'B';
        assert!(parse(&be).is_err());
    }
}
