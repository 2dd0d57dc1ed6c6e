for (const url of ['http://example.com@127.0.0.1:${CANARY}/', 'http://0x7f000001:${CANARY}/', 'http://2130706433:${CANARY}/', 'http://[::ffff:127.0.0.1]:${CANARY}/', 'http://localhost:${CANARY}/']) {
  try { console.log('LEAK', http_get(url).body); } catch (e) { console.log('refused'); }
}
