try { await fetch('http://127.0.0.1:${CANARY}/'); console.log('LEAK'); } catch (e) { console.log('refused', e.name); }
