for (const p of ['/data/../secret.txt', '/data/./../secret.txt', '/data/%2e%2e/secret.txt', '/secret.txt']) {
  try { console.log('LEAK', fs_read(p)); } catch (e) { console.log('refused'); }
}
