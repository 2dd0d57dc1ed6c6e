try { kv_set('k', 'v'.repeat(2 * 1024 * 1024)); console.log('STORED'); } catch (e) { console.log('refused', e.name); }
