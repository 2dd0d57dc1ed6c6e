try { console.log('LEAK', http_get('http://127.0.0.1:${CANARY}/').body); } catch (e) { console.log('refused', e.name); }
