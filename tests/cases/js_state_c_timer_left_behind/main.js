setTimeout(() => console.log('LEAK from the last run'), 50);
console.log('armed');
