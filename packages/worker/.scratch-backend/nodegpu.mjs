const t=performance.now();
try { const m = await import('@tensorflow/tfjs-node-gpu'); console.log('loaded', Object.keys(m).length); } catch (e) { console.log('ERR', e.code, String(e.message).split('\n')[0]); }
try { const m = await import('@tensorflow/tfjs-node'); console.log('loaded'); } catch (e) { console.log('ERR', e.code, String(e.message).split('\n')[0]); }
console.log(performance.now()-t);
