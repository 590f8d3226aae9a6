/** "Did you mean ...?": the known word closest to a mistyped one, for config keys and code options alike. */

/** The closest of `candidates` to `word` (case-insensitive), when it is close enough to be a likely typo. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein plus adjacent swaps ("prot" → "port" is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * One warning per key of `options` outside `known`: `<owner>: unknown option 'instuctions' (did you mean
 * 'instructions'?)`. For what a project's code passes to defineAgent() and tool(), where a typo would
 * otherwise be ignored without a word.
 */
export function unknownOptionWarnings(owner: string, options: object, known: readonly string[], prefix = ""): string[] {
  return Object.keys(options)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const guess = closest(key, [...known]);
      return `${owner}: unknown option '${prefix}${key}' (${guess ? `did you mean '${prefix}${guess}'?` : `known options: ${known.join(", ")}`})`;
    });
}
