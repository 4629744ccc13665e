// A SPDY/3.1 client of Strata's CRI stream server, for its tests. It speaks the two
// Kubernetes protocols as kubectl and crictl do, on spdy-transport (a SPDY implementation
// independent of Strata's):
//
//   node client.js exec URL [--stdin TEXT] [--tty] [--no-stderr] [--resize COLSxROWS]
//     remote-command v4.channel.k8s.io: opens the error, stdin, stdout, stderr and resize
//     streams, sends TEXT then ends stdin, and prints {"stdout","stderr","status"} as JSON.
//   node client.js portforward URL PORT REQUEST...
//     portforward.k8s.io: one data and error stream pair per REQUEST on one connection;
//     prints [{"data","error"}...] as JSON.
//   node client.js upgrade URL PROTOCOL
//     only the upgrade: prints the HTTP status line the server answered.
'use strict'
const net = require('net')
const transport = require('spdy-transport')

// Set once the answer is complete.
let done = false

function fail (msg) {
  process.stderr.write('spdy-client: ' + msg + '\n')
  process.exit(1)
}

// The HTTP upgrade to SPDY/3.1; resolves with the socket and the status line.
function upgrade (url, protocol) {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname)
    let buf = Buffer.alloc(0)
    const onData = (d) => {
      buf = Buffer.concat([buf, d])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      sock.removeListener('data', onData)
      sock.pause()
      const head = buf.slice(0, end).toString()
      const rest = buf.slice(end + 4)
      if (rest.length) sock.unshift(rest)
      resolve({ sock, head, status: head.split('\r\n')[0] })
    }
    sock.on('data', onData)
    sock.on('error', reject)
    sock.on('connect', () => {
      sock.write(`POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
        'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`)
    })
  })
}

async function connect (url, protocol) {
  const { sock, head, status } = await upgrade(url, protocol)
  if (!status.includes(' 101 ')) fail('upgrade refused: ' + status)
  if (!head.toLowerCase().includes('x-stream-protocol-version: ' + protocol)) {
    fail('the server did not agree on ' + protocol + ': ' + head)
  }
  const conn = transport.connection.create(sock, { protocol: 'spdy', isServer: false })
  // Once the result is in, a write racing the server's close is not a failure (kubectl
  // ignores it too); before, any error ends the client.
  conn.on('error', (e) => { if (!done) fail('connection: ' + e) })
  sock.on('error', (e) => { if (!done) fail('socket: ' + e) })
  conn.start(3.1)
  sock.resume()
  return conn
}

// Opens a stream with `headers`; resolves once the server has answered it.
function open (conn, headers) {
  return new Promise((resolve, reject) => {
    const s = conn.request({ method: 'POST', path: '/', host: 'strata', headers }, (err) => {
      if (err) reject(err)
    })
    s.once('response', () => resolve(s))
    s.once('error', reject)
  })
}

// Everything a stream brings until its end (or reset).
function collect (s) {
  return new Promise((resolve) => {
    const chunks = []
    s.on('data', (d) => chunks.push(d))
    s.on('end', () => resolve(Buffer.concat(chunks)))
    s.on('error', () => resolve(Buffer.concat(chunks)))
    s.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

async function exec (url, args) {
  const opt = { stdin: null, tty: false, stderr: true, resize: null }
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--stdin') opt.stdin = args[++i]
    else if (args[i] === '--tty') opt.tty = true
    else if (args[i] === '--no-stderr') opt.stderr = false
    else if (args[i] === '--resize') opt.resize = args[++i]
    else fail('unknown option ' + args[i])
  }
  const conn = await connect(url, 'v4.channel.k8s.io')
  // kubectl's order: error first, then the data streams.
  const error = await open(conn, { streamtype: 'error' })
  const status = collect(error)
  let stdin = null
  if (opt.stdin !== null) stdin = await open(conn, { streamtype: 'stdin' })
  const stdout = collect(await open(conn, { streamtype: 'stdout' }))
  let stderr = Promise.resolve(Buffer.alloc(0))
  if (opt.stderr && !opt.tty) stderr = collect(await open(conn, { streamtype: 'stderr' }))
  if (opt.tty) {
    const resize = await open(conn, { streamtype: 'resize' })
    if (opt.resize) {
      const [w, h] = opt.resize.split('x').map(Number)
      resize.write(JSON.stringify({ Width: w, Height: h }))
    }
  }
  if (stdin) {
    // A moment for the process to start reading, then the input and its end.
    setTimeout(() => { stdin.write(opt.stdin); stdin.end() }, 200)
  }
  const [out, err, st] = await Promise.all([stdout, stderr, status])
  done = true
  process.stdout.write(JSON.stringify({
    stdout: out.toString(),
    stderr: err.toString(),
    status: st.length ? JSON.parse(st.toString()) : null
  }) + '\n')
  conn.end()
  setTimeout(() => process.exit(0), 100)
}

async function portforward (url, port, requests) {
  const conn = await connect(url, 'portforward.k8s.io')
  const results = []
  for (let i = 0; i < requests.length; i++) {
    const h = { port: String(port), requestid: String(i) }
    const error = await open(conn, Object.assign({ streamtype: 'error' }, h))
    const data = await open(conn, Object.assign({ streamtype: 'data' }, h))
    const errText = collect(error)
    const got = collect(data)
    data.write(requests[i])
    const [d, e] = await Promise.all([got, errText])
    results.push({ data: d.toString(), error: e.toString() })
  }
  done = true
  process.stdout.write(JSON.stringify(results) + '\n')
  conn.end()
  setTimeout(() => process.exit(0), 100)
}

async function main () {
  const [mode, url, ...rest] = process.argv.slice(2)
  if (mode === 'exec') return exec(url, rest)
  if (mode === 'portforward') return portforward(url, Number(rest[0]), rest.slice(1))
  if (mode === 'upgrade') {
    const { sock, status } = await upgrade(url, rest[0])
    process.stdout.write(status + '\n')
    sock.destroy()
    return
  }
  fail('usage: client.js exec|portforward|upgrade URL ...')
}

main().catch((e) => fail(String(e && e.stack ? e.stack : e)))
