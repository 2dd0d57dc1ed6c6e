try { console.log('LEAK', fs_list('/')); } catch (e) { console.log('refused', e.name); }
