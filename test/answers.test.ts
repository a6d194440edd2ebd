/** Answer matching: whole words, aliases, and numbers in digits or English words (American and British). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerForms, containsWord, matchesAnswer } from '../src/audit/answers.js';

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
  assert.ok(!matchesAnswer('Plants take in oxygen.', 'carbon dioxide', ['CO2']));
});

test('an answer is right when it holds the expected word as a whole word', () => {
  assert.ok(containsWord('Leo Tolstoy wrote it.', 'Tolstoy'));
  assert.ok(containsWord('The symbol is K.', 'K'));
  assert.ok(containsWord('sahara', 'Sahara'));
  assert.ok(containsWord('0 degrees', '0'));
  assert.ok(!containsWord('Kelvin', 'K'), 'a single letter inside a word');
  assert.ok(!containsWord('Romeo', 'Rome'));
  assert.ok(!containsWord('100', '0'));
  assert.ok(!containsWord('Fé', 'F'), 'letters outside ASCII count as letters');
  assert.ok(containsWord('costs 1.5 dollars', '1.5'), 'regex characters in the word are literal');
  assert.ok(!containsWord('costs 105 dollars', '1.5'));
});
