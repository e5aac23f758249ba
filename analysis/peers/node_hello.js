// node peer: the http module, one process, no logging.
// Usage: node node_hello.js PORT [STATIC_DIR]
// With STATIC_DIR, GET /static/<name> answers that file, streamed with
// fs.createReadStream as node's documentation serves files.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const port = Number(process.argv[2]);
const staticDir = process.argv[3];
const body = 'Hello World';

function serveFile(req, res) {
  const name = decodeURIComponent(req.url.slice('/static/'.length).split('?')[0]);
  if (name.includes('/') || name.startsWith('.')) {
    res.writeHead(404);
    res.end();
    return;
  }
  const file = path.join(staticDir, name);
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': st.size,
                        'Last-Modified': st.mtime.toUTCString()});
    fs.createReadStream(file).pipe(res);
  });
}

const server = http.createServer((req, res) => {
  if (staticDir && req.url.startsWith('/static/')) {
    serveFile(req, res);
    return;
  }
  // An explicit Content-Length, as the other servers send, instead of chunked.
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': body.length});
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen({port: port, host: '127.0.0.1', backlog: 4096});
