#!/usr/bin/env node
console.log('shoal');
