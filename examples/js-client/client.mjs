#!/usr/bin/env node
// Join a Talkbook notebook from Node.js with the stock Yjs packages, list its cells and
// their authors, add a code cell, then print live changes until Ctrl-C.
//
//   node examples/js-client/client.mjs --url ws://127.0.0.1:8080/ws --notebook ID --token TOKEN
//
// Needs: npm install yjs@13 y-websocket@3 ws@8   (in this repository: npm ci at the root)

import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'
import WebSocket from 'ws'
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8080/ws' },
    notebook: { type: 'string' },
    token: { type: 'string' },
    source: { type: 'string', default: 'print("hello from the JavaScript client")' }
  }
})
if (!opts.notebook) {
  console.error('usage: client.mjs --url ws://HOST:PORT/ws --notebook NOTEBOOK_ID --token TOKEN')
  process.exit(2)
}

// 1. One Yjs document per notebook. Its layout is Jupyter's (jupyter_ydoc YNotebook):
//    `cells` is a Y.Array of Y.Map, `meta` a Y.Map, and Talkbook adds `provenance`,
//    a Y.Map that only the server writes: cell id -> {author, author_name, created_at}.
const doc = new Y.Doc()
const cells = doc.getArray('cells')
const provenance = doc.getMap('provenance')

// 2. Connect: URL = `${url}/${notebook}?token=TOKEN` (browsers cannot send headers on a
//    WebSocket, hence the query parameter). In Node, `ws` provides the WebSocket class.
const provider = new WebsocketProvider(opts.url, opts.notebook, doc, {
  WebSocketPolyfill: WebSocket,
  params: opts.token ? { token: opts.token } : {}
})

// The server says "permission denied" with y-protocols' auth message (type 2), e.g. when
// you edit someone else's cell in a thread-mode notebook. y-websocket only logs it, so we
// replace its handler to print the reason. The refused change reached nobody, but it is
// still in this client's own copy (Yjs cannot take an edit back); a real editor should drop
// it by starting a fresh Y.Doc and provider. Later edits keep working either way.
provider.messageHandlers[2] = (_encoder, decoder, prov) => {
  authProtocol.readAuthMessage(decoder, prov.doc, (_doc, reason) => console.log(`! permission denied: ${reason}`))
}
provider.on('connection-error', (ev) => console.log(`! connection error: ${ev.message ?? ev}`)) // e.g. HTTP 401
provider.on('connection-close', (ev) => ev && console.log(`! connection closed: ${ev.code} ${ev.reason}`))
// 44xx close codes (bad token, access revoked, notebook deleted...) are final: y-websocket
// stops reconnecting and emits 'closed'. Other closes (1001 restart, network) reconnect.
provider.on('closed', ({ code, reason }) => {
  console.log(`! the server ended the session: ${code} ${reason}`)
  process.exit(1)
})

// Helpers to read a cell.
const authorOf = (id) => {
  let p = provenance.get(id)
  if (p instanceof Y.Map) p = p.toJSON()
  return p ? (p.author_name ?? p.author) : '(author not recorded)'
}
const firstLine = (cell) => String(cell.get('source') ?? '').split('\n')[0].slice(0, 60)
// JSON.stringify that accepts BigInt (64-bit integers written by other Yjs implementations)
const json = (v) => JSON.stringify(v, (_k, x) => typeof x === 'bigint' ? Number(x) : x)
const describe = (cell, i) => `#${i} ${cell.get('cell_type')} ${cell.get('id')} by ${authorOf(cell.get('id'))}: ${firstLine(cell)}`

// 3. Once synced, the document holds the whole notebook.
provider.once('sync', () => {
  console.log(`joined ${opts.notebook}: ${cells.length} cell(s)`)
  cells.forEach((cell, i) => console.log('  ' + describe(cell, i)))

  // 4. Add a code cell. The server records you as its author in `provenance`.
  const cell = new Y.Map()
  const id = randomUUID()
  cell.set('id', id)
  cell.set('cell_type', 'code')
  cell.set('source', new Y.Text(opts.source))
  cell.set('metadata', new Y.Map())
  cell.set('outputs', new Y.Array())
  cell.set('execution_count', null)
  cell.set('execution_state', 'idle')
  cells.push([cell])
  console.log(`added code cell ${id}`)
  // Running it is not part of the sync protocol: it will be a call to Talkbook's HTTP API
  // (SPEC §10, "cells (run)"), after which the outputs stream into this same document.
  console.log('live changes follow (Ctrl-C to quit)')
  watch()
})

// 5. Live changes: observeDeep reports every change below `cells`; event.path tells where.
function watch () {
  cells.observeDeep((events, txn) => {
    const who = txn.origin === provider ? 'remote' : 'you'
    for (const ev of events) {
      if (ev.target === cells) {
        // cells inserted or deleted
        let index = 0
        for (const d of ev.changes.delta) {
          if (d.retain) index += d.retain
          if (d.insert) for (const c of d.insert) console.log(`[${who}] + ${describe(c, index++)}`)
          if (d.delete) console.log(`[${who}] - ${d.delete} cell(s) at #${index}`)
        }
      } else {
        const [i, key] = ev.path
        const cell = cells.get(i)
        if (key === 'source') console.log(`[${who}] ~ ${describe(cell, i)}`)
        else if (key === 'outputs') console.log(`[${who}] ~ #${i} outputs: ${json(cell.get('outputs').toJSON()).slice(0, 100)}`)
        else console.log(`[${who}] ~ #${i} ${key ? key + ': ' : ''}${[...ev.keys.keys()].join(', ')} changed`)
      }
    }
  })
  provenance.observe((ev) => {
    for (const id of ev.keysChanged) console.log(`[server] author of ${id}: ${authorOf(id)}`)
  })
}

process.on('SIGINT', () => {
  provider.destroy()
  process.exit(0)
})
