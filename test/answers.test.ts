/** Answer matching: whole words, aliases, and numbers in digits or English words (American and British). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerForms, matchesAnswer } from '../src/audit/answers.js';

test('numbers match in digits and in words, either way round', () => {
  assert.ok(matchesAnswer('A spider has eight legs.', '8'));
  assert.ok(matchesAnswer('It has 8 legs.', 'eight'));
  assert.ok(matchesAnswer('The maximum break is one hundred forty-seven.', '147'));
  assert.ok(matchesAnswer('The maximum break is one hundred and forty-seven.', '147'));
  assert.ok(matchesAnswer('Water boils at 100 °C.', 'one hundred'));
  assert.ok(matchesAnswer('About 1,000 metres.', '1000'));
  assert.ok(matchesAnswer('twenty one', '21'));
  assert.ok(!matchesAnswer('A spider has eighty legs.', '8'), 'eighty is not eight');
  assert.ok(!matchesAnswer('It has 18 legs.', 'eight'));
  assert.ok(!matchesAnswer('The answer is 1470.', '147'));
  assert.deepEqual(answerForms('3').sort(), ['3', 'three']);
});

test('aliases and whole words', () => {
  assert.ok(matchesAnswer('Plants take in CO2.', 'carbon dioxide', ['CO2']));
  assert.ok(matchesAnswer('It was William Shakespeare.', 'Shakespeare'));
  assert.ok(!matchesAnswer('Kelvin', 'K'));
  assert.ok(!matchesAnswer('Romeo', 'Rome'));
  assert.ok(!matchesAnswer('Plants take in oxygen.', 'carbon dioxide', ['CO2']));
});
