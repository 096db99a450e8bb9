// The reference for the OpenADR 2.0b poll benchmark: a bare Node HTTP(S) server that reads a request body and
// answers a fixed oadrResponse, with the same TLS settings as the VTN (mutual TLS, TLS 1.2+). What the VTN
// costs per poll above this is gridflex's own work. Usage: node bare-server.mjs plain|tls PORT DIR
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';

const [, , mode, port, dir] = process.argv;
const body = fs.readFileSync(`${dir}/response.xml`, 'utf8');
const handler = (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};
const server =
  mode === 'tls'
    ? https.createServer({ key: fs.readFileSync(`${dir}/vtn.key`), cert: fs.readFileSync(`${dir}/vtn.pem`), ca: fs.readFileSync(`${dir}/ca.pem`), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, handler)
    : http.createServer(handler);
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1', () => process.send?.('up'));
