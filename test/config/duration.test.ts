import t from 'tap';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

t.test('Go duration syntax', async (t) => {
  const table: Array<[string, number]> = [
    ['90s', 90_000], ['5m', 300_000], ['1h30m', 5_400_000], ['1.5h', 5_400_000],
    ['250ms', 250], ['0', 0], ['12h', 43_200_000], ['2h45m30s', 9_930_000]
  ];
  for (const [text, ms] of table) t.equal(parseDuration(text), ms, text);
  for (const bad of ['', '5', 'm', '5 m', '-5m', '5d', '1h-', 'abc']) {
    t.throws(() => parseDuration(bad), bad);
  }
  t.equal(formatDuration(5_400_000), '90m');
  t.equal(formatDuration(3_600_000), '1h');
  t.equal(formatDuration(1500), '1500ms');
});
