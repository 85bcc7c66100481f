#!/usr/bin/env node
// A scripted y-websocket client for Talkbook's end-to-end tests.
//
// It is the stock `y-websocket` WebsocketProvider (unmodified; Node's WebSocket
// comes from the `ws` package) on a `yjs` document with jupyter_ydoc's YNotebook
// layout, driven by a line protocol so that Rust tests can spawn several of them
// and make them act. tests/py/yclient.py speaks the same protocol with pycrdt.
//
//   node tests/js/yclient.mjs --url ws://127.0.0.1:PORT/ws --room NOTEBOOK_ID \
//        [--token SECRET] [--name NAME] [--client-id N]
//
// The provider connects to `${url}/${room}?token=SECRET` (room = notebook id).
// stdin: one JSON command per line; stdout: one JSON reply per line, echoing the
// command's "id"; stderr: logs. Commands run one at a time, in order. Replies are
// {"id":..,"ok":true,...} or {"id":..,"ok":false,"error":"..."}.
//
//   connect {timeout_ms?}           -> ok once synced (provider 'sync' event), with
//                                      client_id; or ok:false + error, close_code,
//                                      close_reason, http_status (upgrade refused) when the
//                                      connection closes or fails first, or error "timeout"
//                                      (default 15000 ms). After a failure the client stops
//                                      trying (as after `disconnect`); `connect` again retries.
//   disconnect                      -> provider.disconnect()
//   set_reconnect {enabled, all_codes?}
//                                   -> enabled:false: never reconnect after the server closes.
//                                      enabled:true: the provider's default (reconnect, except
//                                      after close codes 4400-4499); all_codes:true reconnects
//                                      after every close code, 44xx included.
//   init_notebook                   -> writes root `meta` (nbformat 4, nbformat_minor 5,
//                                      metadata Y.Map) if it has no nbformat yet. Only for
//                                      servers that start rooms empty (the reference server).
//   add_cell {cell_type, source, cell_id?, index?, metadata?}
//                                   -> inserts a YNotebook cell map (index null/absent =
//                                      append); code cells get outputs [], execution_count
//                                      null, execution_state "idle". Replies cell_id.
//   insert_text {cell_id, index, text}, delete_text {cell_id, index, length}
//                                   -> edit the cell's source Y.Text; indices are UTF-16
//                                      code units, as in Yjs.
//   delete_cell {cell_id}
//   move_cell {cell_id, index}      -> moves a cell the way JupyterLab does: one transaction
//                                      deleting it and inserting a copy (same id) at index
//                                      (counted after the removal)
//   add_output {cell_id, output}    -> appends an nbformat output (a JSON object) to the
//                                      code cell's outputs as a Y.Map
//   set_metadata {cell_id?, key, value}
//                                   -> sets metadata[key] of the cell, or of the notebook
//                                      (meta.metadata) when cell_id is null or absent.
//   set_root_map {root, key, value} -> sets a key of a root Y.Map (e.g. root "provenance",
//                                      which Talkbook must reject)
//   apply_update {update}           -> applies a base64 Yjs update locally (so it is sent)
//   send_raw {data}                 -> sends base64 bytes as one binary frame, as they are
//   dump                            -> {notebook: {cells, metadata, nbformat, nbformat_minor},
//                                      cell_count_raw, provenance, talkbook, execution_states}
//                                      cells as nbformat JSON (execution_state removed; it is
//                                      in execution_states: cell id -> state); nbformat null
//                                      when meta has none.
//   wait_for {cell_id, contains, timeout_ms?}   -> ok when that cell's source contains the text
//   wait_cells {count, timeout_ms?}             -> ok when the cells array has >= count entries
//   wait_peers {count, timeout_ms?}             -> ok when >= count other awareness states
//                                      (timeouts reply ok:false, error "timeout"; default 10000)
//   watch_cell {cell_id}            -> from now on, records every distinct state of that cell
//                                      after each change of the document: {execution_state,
//                                      execution_count, outputs} (outputs as nbformat JSON;
//                                      null while there is no such cell). The current state is
//                                      the first one recorded. Watching again starts afresh.
//   watched {cell_id}               -> {states: [...]}: the distinct states recorded, in order
//   received                        -> {updates: [base64...]}: every update applied from the
//                                      server (doc 'update' events whose origin is the provider)
//   state                           -> {state_vector, update}: base64 of Y.encodeStateVector /
//                                      Y.encodeStateAsUpdate
//   awareness {state}               -> sets the local awareness state (null clears it)
//   peers                           -> {peers: [{client_id, state}]}: awareness of the others
//   events                          -> {events: [...]}: in order, each with `type`:
//                                      status {status}, sync {synced}, connection-error
//                                      {message, http_status?}, connection-close {code, reason,
//                                      was_clean}, closed {code, reason} (the provider gave up
//                                      reconnecting), permission-denied {reason} (y-protocols
//                                      auth message, type 2), plus t_ms (ms since start)
//   info                            -> {client_id, connected, synced, should_connect, url}
//   exit                            -> replies, then exits 0 (EOF on stdin also exits)
//
// Whole numbers come out as integers (JSON has no float/int distinction; int64 values
// that yrs or pycrdt write arrive in Yjs as BigInt and are turned into numbers).

import * as readline from 'node:readline'
import { randomUUID } from 'node:crypto'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'
import WebSocket from 'ws'

const MESSAGE_AUTH = 2

// ---------- arguments ----------
function parseArgs (argv) {
  const args = { url: null, room: null, token: null, name: 'js', clientId: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--url') args.url = next()
    else if (a === '--room') args.room = next()
    else if (a === '--token') args.token = next()
    else if (a === '--name') args.name = next()
    else if (a === '--client-id') args.clientId = Number(next())
    else throw new Error(`unknown argument ${a}`)
  }
  if (!args.url || !args.room) throw new Error('usage: yclient.mjs --url ws://HOST:PORT/ws --room ROOM [--token T] [--name NAME] [--client-id N]')
  return args
}

let args
try {
  args = parseArgs(process.argv.slice(2))
} catch (e) {
  process.stderr.write(`yclient: ${e.message}\n`)
  process.exit(2)
}

const t0 = Date.now()
const log = (...m) => process.stderr.write(`[yclient ${args.name} +${Date.now() - t0}ms] ${m.join(' ')}\n`)

// ---------- document and provider ----------
const doc = new Y.Doc()
if (args.clientId !== null) doc.clientID = args.clientId
const ycells = doc.getArray('cells')
const ymeta = doc.getMap('meta')
const yprovenance = doc.getMap('provenance')

const provider = new WebsocketProvider(args.url, args.room, doc, {
  connect: false,
  WebSocketPolyfill: WebSocket,
  params: args.token !== null ? { token: args.token } : {},
  disableBc: true // every byte goes through the server, never a same-process BroadcastChannel
})
const defaultShouldReconnect = provider.shouldReconnect

/** everything notable, in order */
const events = []
const record = (ev) => {
  ev.t_ms = Date.now() - t0
  events.push(ev)
  log('event', JSON.stringify(ev))
  for (const w of [...eventWaiters]) w(ev)
}
/** @type {Set<(ev: any) => void>} */
const eventWaiters = new Set()

provider.on('status', ({ status }) => record({ type: 'status', status }))
provider.on('sync', (synced) => record({ type: 'sync', synced }))
provider.on('connection-error', (ev) => {
  const message = (ev && (ev.message || (ev.error && ev.error.message))) || 'connection error'
  const out = { type: 'connection-error', message }
  // `ws` reports a refused upgrade as "Unexpected server response: 401"
  const m = /Unexpected server response: (\d+)/.exec(message)
  if (m) out.http_status = Number(m[1])
  record(out)
})
provider.on('connection-close', (ev) => {
  // ev is null when the close was local (disconnect() or the provider's watchdog)
  if (ev) record({ type: 'connection-close', code: ev.code, reason: ev.reason, was_clean: ev.wasClean })
  else record({ type: 'connection-close', code: null, reason: 'closed locally', was_clean: true })
})
provider.on('closed', (ev) => record({ type: 'closed', code: ev.code, reason: ev.reason }))

// Message type 2 (auth). The provider's own handler only console.warn()s the reason
// through a module-private function; its per-provider `messageHandlers` table is the
// documented hook, so we replace that entry to capture the reason.
provider.messageHandlers[MESSAGE_AUTH] = (_encoder, decoder, prov) => {
  authProtocol.readAuthMessage(decoder, prov.doc, (_ydoc, reason) => {
    record({ type: 'permission-denied', reason })
  })
}

/** base64 of every update received from the server */
const received = []
doc.on('update', (update, origin) => {
  if (origin === provider) received.push(Buffer.from(update).toString('base64'))
  recordWatches()
  for (const w of [...docWaiters]) w()
})
/** @type {Set<() => void>} */
const docWaiters = new Set()
provider.awareness.on('change', () => { for (const w of [...docWaiters]) w() })

if (args.name) provider.awareness.setLocalStateField('user', { name: args.name })

// ---------- helpers ----------
const b64 = (u8) => Buffer.from(u8).toString('base64')
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'))

function findCell (cellId) {
  for (let i = 0; i < ycells.length; i++) {
    const c = ycells.get(i)
    if (c instanceof Y.Map && c.get('id') === cellId) return { index: i, cell: c }
  }
  return null
}
function needCell (cellId) {
  const f = findCell(cellId)
  if (!f) throw new Error(`no cell with id ${JSON.stringify(cellId)}`)
  return f
}
function needText (cellId) {
  const src = needCell(cellId).cell.get('source')
  if (!(src instanceof Y.Text)) throw new Error(`cell ${cellId} has no Y.Text source`)
  return src
}
function needInt (cmd, key) {
  const v = cmd[key]
  if (!Number.isInteger(v) || v < 0) throw new Error(`"${key}" must be a non-negative integer`)
  return v
}
function toJSONValue (v) {
  if (v instanceof Y.AbstractType) return v.toJSON()
  if (v instanceof Uint8Array) return b64(v)
  return v
}
/** JSON.stringify replacer: BigInt (int64 written by yrs/pycrdt) -> number */
const replacer = (_k, v) => typeof v === 'bigint' ? Number(v) : v

function dump () {
  const cells = []
  const executionStates = {}
  for (let i = 0; i < ycells.length; i++) {
    const c = ycells.get(i)
    const cell = toJSONValue(c)
    if (cell && typeof cell === 'object' && !Array.isArray(cell)) {
      if ('execution_state' in cell) {
        if (cell.id !== undefined) executionStates[cell.id] = cell.execution_state
        delete cell.execution_state
      }
    }
    cells.push(cell)
  }
  const md = ymeta.get('metadata')
  const nbf = ymeta.get('nbformat')
  const nbfm = ymeta.get('nbformat_minor')
  return {
    notebook: {
      cells,
      metadata: md === undefined ? {} : toJSONValue(md),
      nbformat: nbf === undefined ? null : nbf,
      nbformat_minor: nbfm === undefined ? null : nbfm
    },
    cell_count_raw: ycells.length,
    provenance: yprovenance.toJSON(),
    talkbook: doc.getMap('talkbook').toJSON(),
    execution_states: executionStates
  }
}

/** cell id -> {last: JSON text of the last state, states: [...]}, for watch_cell */
const watches = new Map()

/** What a watch records of a cell: its run state and outputs (null: no such cell). */
function cellRunState (cellId) {
  const f = findCell(cellId)
  if (!f) return null
  const outputs = f.cell.get('outputs')
  const count = f.cell.get('execution_count')
  return {
    execution_state: f.cell.get('execution_state') ?? null,
    execution_count: count === undefined ? null : count,
    outputs: outputs instanceof Y.Array ? outputs.toJSON() : null
  }
}

/** Appends each watched cell's state if it changed since the last one recorded. */
function recordWatches () {
  for (const [cellId, watch] of watches) {
    const text = JSON.stringify(cellRunState(cellId), replacer)
    if (text !== watch.last) {
      watch.last = text
      watch.states.push(JSON.parse(text))
    }
  }
}

/** resolves when pred() holds (checked now and after every document/awareness change) */
function waitUntil (pred, timeoutMs) {
  return new Promise((resolve) => {
    if (pred()) return resolve(true)
    let timer = null
    let poll = null
    const check = () => {
      if (pred()) finish(true)
    }
    const finish = (ok) => {
      docWaiters.delete(check)
      clearTimeout(timer)
      clearInterval(poll)
      resolve(ok)
    }
    docWaiters.add(check)
    poll = setInterval(check, 100) // belt and braces; changes also trigger check()
    timer = setTimeout(() => finish(pred()), timeoutMs)
  })
}

function connect (timeoutMs) {
  if (provider.wsconnected && provider.synced) {
    return Promise.resolve({ ok: true, client_id: doc.clientID })
  }
  return new Promise((resolve) => {
    let lastError = null
    let timer = null
    const finish = (reply) => {
      eventWaiters.delete(onEvent)
      clearTimeout(timer)
      if (!reply.ok) provider.disconnect() // stop retrying: the test decides what is next
      resolve(reply)
    }
    const onEvent = (ev) => {
      if (ev.type === 'sync' && ev.synced) finish({ ok: true, client_id: doc.clientID })
      else if (ev.type === 'connection-error') lastError = ev
      else if (ev.type === 'connection-close' || ev.type === 'closed') {
        const reply = { ok: false, error: ev.reason || (lastError && lastError.message) || `closed with code ${ev.code}`, close_code: ev.code, close_reason: ev.reason }
        if (lastError && lastError.http_status !== undefined) reply.http_status = lastError.http_status
        finish(reply)
      }
    }
    eventWaiters.add(onEvent)
    timer = setTimeout(() => {
      const reply = { ok: false, error: 'timeout' }
      if (lastError) reply.last_error = lastError.message
      finish(reply)
    }, timeoutMs)
    provider.connect()
  })
}

function ensureMeta () {
  doc.transact(() => {
    if (ymeta.get('nbformat') === undefined) {
      ymeta.set('nbformat', 4)
      ymeta.set('nbformat_minor', 5)
      if (!(ymeta.get('metadata') instanceof Y.Map)) ymeta.set('metadata', new Y.Map())
    }
  })
}

// ---------- commands ----------
const handlers = {
  async connect (cmd) {
    return connect(cmd.timeout_ms ?? 15000)
  },
  async disconnect () {
    provider.disconnect()
    return { ok: true }
  },
  async set_reconnect (cmd) {
    if (typeof cmd.enabled !== 'boolean') throw new Error('"enabled" must be true or false')
    if (!cmd.enabled) provider.shouldReconnect = () => false
    else if (cmd.all_codes) provider.shouldReconnect = () => true
    else provider.shouldReconnect = defaultShouldReconnect
    return { ok: true }
  },
  async init_notebook () {
    ensureMeta()
    return { ok: true }
  },
  async add_cell (cmd) {
    const cellType = cmd.cell_type ?? 'code'
    if (!['code', 'markdown', 'raw'].includes(cellType)) throw new Error(`bad cell_type ${cellType}`)
    const id = cmd.cell_id ?? randomUUID()
    const index = cmd.index ?? null
    if (index !== null && (!Number.isInteger(index) || index < 0 || index > ycells.length)) {
      throw new Error(`index ${index} out of range (0..${ycells.length})`)
    }
    const cell = new Y.Map()
    cell.set('id', id)
    cell.set('cell_type', cellType)
    cell.set('source', new Y.Text(cmd.source ?? ''))
    cell.set('metadata', new Y.Map(Object.entries(cmd.metadata ?? {})))
    if (cellType === 'code') {
      cell.set('outputs', new Y.Array())
      cell.set('execution_count', null)
      cell.set('execution_state', 'idle')
    }
    if (index === null) ycells.push([cell])
    else ycells.insert(index, [cell])
    return { ok: true, cell_id: id }
  },
  async insert_text (cmd) {
    const t = needText(cmd.cell_id)
    const index = needInt(cmd, 'index')
    if (index > t.length) throw new Error(`index ${index} past the end (${t.length})`)
    t.insert(index, String(cmd.text ?? ''))
    return { ok: true }
  },
  async delete_text (cmd) {
    const t = needText(cmd.cell_id)
    const index = needInt(cmd, 'index')
    const length = needInt(cmd, 'length')
    if (index + length > t.length) throw new Error(`range ${index}+${length} past the end (${t.length})`)
    t.delete(index, length)
    return { ok: true }
  },
  async delete_cell (cmd) {
    const { index } = needCell(cmd.cell_id)
    ycells.delete(index, 1)
    return { ok: true }
  },
  async move_cell (cmd) {
    const { index: from, cell } = needCell(cmd.cell_id)
    const to = needInt(cmd, 'index')
    if (to > ycells.length - 1) throw new Error(`index ${to} out of range (0..${ycells.length - 1})`)
    const copy = new Y.Map()
    for (const [key, value] of cell.entries()) {
      if (value instanceof Y.Text) copy.set(key, new Y.Text(value.toString()))
      else if (value instanceof Y.Map) copy.set(key, new Y.Map(Object.entries(value.toJSON())))
      else if (value instanceof Y.Array) copy.set(key, Y.Array.from(value.toJSON().map(o => new Y.Map(Object.entries(o)))))
      else copy.set(key, value)
    }
    doc.transact(() => {
      ycells.delete(from, 1)
      ycells.insert(to, [copy])
    })
    return { ok: true }
  },
  async add_output (cmd) {
    const { cell } = needCell(cmd.cell_id)
    const outputs = cell.get('outputs')
    if (!(outputs instanceof Y.Array)) throw new Error(`cell ${cmd.cell_id} has no outputs`)
    if (typeof cmd.output !== 'object' || cmd.output === null) throw new Error('"output" must be an object')
    outputs.push([new Y.Map(Object.entries(cmd.output))])
    return { ok: true }
  },
  async set_metadata (cmd) {
    if (typeof cmd.key !== 'string') throw new Error('"key" must be a string')
    let md
    if (cmd.cell_id === undefined || cmd.cell_id === null) {
      md = ymeta.get('metadata')
      if (!(md instanceof Y.Map)) throw new Error('the notebook has no meta.metadata map')
    } else {
      md = needCell(cmd.cell_id).cell.get('metadata')
      if (!(md instanceof Y.Map)) throw new Error(`cell ${cmd.cell_id} has no metadata map`)
    }
    md.set(cmd.key, cmd.value === undefined ? null : cmd.value)
    return { ok: true }
  },
  async set_root_map (cmd) {
    if (typeof cmd.root !== 'string' || typeof cmd.key !== 'string') throw new Error('"root" and "key" must be strings')
    doc.getMap(cmd.root).set(cmd.key, cmd.value === undefined ? null : cmd.value)
    return { ok: true }
  },
  async apply_update (cmd) {
    Y.applyUpdate(doc, unb64(cmd.update), 'yclient-apply')
    return { ok: true }
  },
  async send_raw (cmd) {
    const ws = provider.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error('not connected')
    ws.send(unb64(cmd.data))
    return { ok: true }
  },
  async dump () {
    return { ok: true, ...dump() }
  },
  async wait_for (cmd) {
    const needle = String(cmd.contains ?? '')
    const ok = await waitUntil(() => {
      const f = findCell(cmd.cell_id)
      return f !== null && f.cell.get('source') instanceof Y.Text && f.cell.get('source').toString().includes(needle)
    }, cmd.timeout_ms ?? 10000)
    if (ok) return { ok: true }
    const f = findCell(cmd.cell_id)
    return { ok: false, error: 'timeout', source: f ? String(toJSONValue(f.cell.get('source'))) : null }
  },
  async wait_cells (cmd) {
    const count = needInt(cmd, 'count')
    const ok = await waitUntil(() => ycells.length >= count, cmd.timeout_ms ?? 10000)
    return ok ? { ok: true, count: ycells.length } : { ok: false, error: 'timeout', count: ycells.length }
  },
  async wait_peers (cmd) {
    const count = needInt(cmd, 'count')
    const n = () => provider.awareness.getStates().size - (provider.awareness.getLocalState() === null ? 0 : 1)
    const ok = await waitUntil(() => n() >= count, cmd.timeout_ms ?? 10000)
    return ok ? { ok: true, count: n() } : { ok: false, error: 'timeout', count: n() }
  },
  async watch_cell (cmd) {
    if (typeof cmd.cell_id !== 'string') throw new Error('"cell_id" must be a string')
    watches.set(cmd.cell_id, { last: null, states: [] })
    recordWatches()
    return { ok: true }
  },
  async watched (cmd) {
    const watch = watches.get(cmd.cell_id)
    if (!watch) throw new Error(`cell ${JSON.stringify(cmd.cell_id)} is not watched`)
    return { ok: true, states: watch.states.slice() }
  },
  async received () {
    return { ok: true, updates: received.slice() }
  },
  async state () {
    return { ok: true, state_vector: b64(Y.encodeStateVector(doc)), update: b64(Y.encodeStateAsUpdate(doc)) }
  },
  async awareness (cmd) {
    provider.awareness.setLocalState(cmd.state === undefined ? null : cmd.state)
    return { ok: true }
  },
  async peers () {
    const peers = []
    for (const [clientId, state] of provider.awareness.getStates()) {
      if (clientId !== doc.clientID) peers.push({ client_id: clientId, state })
    }
    return { ok: true, peers }
  },
  async events () {
    return { ok: true, events: events.slice() }
  },
  async info () {
    return { ok: true, client_id: doc.clientID, connected: provider.wsconnected, synced: provider.synced, should_connect: provider.shouldConnect, url: provider.url }
  }
}

function write (obj) {
  let line
  try {
    line = JSON.stringify(obj, replacer)
  } catch (e) {
    line = JSON.stringify({ id: obj.id ?? null, ok: false, error: `reply not serialisable: ${e.message}` })
  }
  process.stdout.write(line + '\n')
}

let exiting = false
async function shutdown (code) {
  if (exiting) return
  exiting = true
  // let queued frames reach the server (at most 2 s), then close and leave
  const ws = provider.ws
  for (let i = 0; i < 200 && ws && ws.readyState === WebSocket.OPEN && ws.bufferedAmount > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  try { provider.destroy() } catch (_) {}
  process.stdout.write('', () => process.exit(code))
}

async function handleLine (line) {
  if (!line.trim()) return
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (e) {
    write({ id: null, ok: false, error: `bad JSON: ${e.message}` })
    return
  }
  const id = cmd && typeof cmd === 'object' ? (cmd.id ?? null) : null
  if (!cmd || typeof cmd !== 'object' || typeof cmd.cmd !== 'string') {
    write({ id, ok: false, error: 'expected an object with a "cmd" string' })
    return
  }
  if (cmd.cmd === 'exit') {
    write({ id, ok: true })
    shutdown(0)
    return
  }
  const h = Object.prototype.hasOwnProperty.call(handlers, cmd.cmd) ? handlers[cmd.cmd] : null
  if (!h) {
    write({ id, ok: false, error: `unknown command ${JSON.stringify(cmd.cmd)}` })
    return
  }
  try {
    const reply = await h(cmd)
    write({ id, ...reply })
  } catch (e) {
    write({ id, ok: false, error: e && e.message ? e.message : String(e) })
  }
}

// Commands run strictly one after another.
const rl = readline.createInterface({ input: process.stdin, terminal: false })
let chain = Promise.resolve()
rl.on('line', (line) => { chain = chain.then(() => handleLine(line)) })
rl.on('close', () => { chain.then(() => shutdown(0)) })
process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))
log(`ready: ${args.url}/${args.room} client_id=${doc.clientID}`)
