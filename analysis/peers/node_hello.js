// node peer: the http module, one process, no logging.
// Usage: node node_hello.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const body = 'Hello World';
const server = http.createServer((req, res) => {
  // An explicit Content-Length, as the other servers send, instead of chunked.
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': body.length});
  res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen({port: port, host: '127.0.0.1', backlog: 4096});
