const out = [];
for (const f of [() => kv_set('k', 5), () => kv_set(5, 'v'), () => kv_get({}), () => _goru_call(5)]) {
  try { f(); out.push('LEAK'); } catch (e) { out.push(e.name); }
}
console.log(out.join(' '));
