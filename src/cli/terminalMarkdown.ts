/**
 * Markdown for a terminal, for `klisk run` on a colour TTY. A reply streams in token by token, so it is
 * rendered a line at a time: the raw text of the current line is shown as it arrives, and when the line
 * ends it is redrawn styled (headings, emphasis, code, lists, quotes, fenced code). Hand-written, small:
 * marked is ESM-only (no require() before Node 20.19, none in jest) and marked-terminal is ESM with chalk 5
 * and a syntax highlighter. Pipes, --json and NO_COLOR get the reply exactly as the model wrote it.
 */
import type { Style } from "./output";

/** Styles one line of Markdown; keeps the state that spans lines (inside a fenced code block or not). */
export class MarkdownLines {
  private fence: string | null = null;

  constructor(private readonly style: Style) {}

  render(line: string): string {
    const { style } = this;
    const fence = /^\s*(\x60{3,}|~{3,})/.exec(line);
    if (fence && (this.fence === null || fence[1].startsWith(this.fence))) {
      this.fence = this.fence === null ? fence[1][0].repeat(3) : null;
      return style.dim(line);
    }
    if (this.fence !== null) return style.cyan(line);

    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) return heading[1].length === 1 ? style.bold.underline(this.inline(heading[2])) : style.bold(this.inline(heading[2]));
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) return style.dim("─".repeat(40));
    const quote = /^\s{0,3}>\s?(.*)$/.exec(line);
    if (quote) return `${style.dim("│ ")}${style.italic(this.inline(quote[1]))}`;
    const bullet = /^(\s*)[-*+]\s+(.*)$/.exec(line);
    if (bullet) return `${bullet[1]}${style.dim("•")} ${this.inline(bullet[2])}`;
    const numbered = /^(\s*)(\d+[.)])\s+(.*)$/.exec(line);
    if (numbered) return `${numbered[1]}${style.dim(numbered[2])} ${this.inline(numbered[3])}`;
    return this.inline(line);
  }

  /** Inline Markdown: code spans first (their text is literal), then links, emphasis and escapes, nested. */
  private inline(text: string): string {
    const { style } = this;
    return text.replace(INLINE, (whole, _ticks, code, linkText, href, strong, strong2, del, em, em2, escaped) => {
      if (code !== undefined) return style.cyan(code);
      if (href !== undefined) return linkText === href ? style.underline(href) : `${style.underline(this.inline(linkText))} ${style.dim(`(${href})`)}`;
      if ((strong ?? strong2) !== undefined) return style.bold(this.inline(strong ?? strong2));
      if (del !== undefined) return style.strikethrough(this.inline(del));
      if ((em ?? em2) !== undefined) return style.italic(this.inline(em ?? em2));
      if (escaped !== undefined) return escaped;
      return whole;
    });
  }
}

/**
 * One alternative per inline construct, tried left to right: `code`, [text](url), **strong**, __strong__,
 * ~~del~~, *em*, _em_ (not inside a word, so snake_case stays), and backslash escapes.
 */
const INLINE = new RegExp(
  [
    /(\x60+)([^\x60]|[^\x60][\s\S]*?[^\x60])\1(?!\x60)/, // \x60 is the backtick
    /\[([^\]]+)\]\(([^)\s]+)\)/,
    /\*\*(?=\S)([\s\S]*?\S)\*\*(?!\*)/,
    /__(?=\S)([\s\S]*?\S)__/,
    /~~(?=\S)([\s\S]*?\S)~~/,
    /\*(?=[^\s*])([^*]*?[^\s*])\*/,
    /(?<![\p{L}\p{N}])_(?=[^\s_])([^_]*?[^\s_])_(?![\p{L}\p{N}])/u,
    /\\([!-\/:-@[-\x60{-~])/,
  ]
    .map((part) => part.source)
    .join("|"),
  "gu",
);

/**
 * The reply's text on a TTY: each raw piece is written at once; a finished line is erased (over as many
 * screen rows as it wrapped to) and written again styled.
 */
export class MarkdownStream {
  private line = "";
  private readonly lines: MarkdownLines;

  constructor(private readonly out: NodeJS.WriteStream, style: Style) {
    this.lines = new MarkdownLines(style);
  }

  write(text: string): void {
    let rest = text;
    for (let newline = rest.indexOf("\n"); newline !== -1; newline = rest.indexOf("\n")) {
      this.out.write(rest.slice(0, newline));
      this.line += rest.slice(0, newline);
      this.redraw();
      this.out.write("\n");
      rest = rest.slice(newline + 1);
    }
    if (rest) {
      this.out.write(rest);
      this.line += rest;
    }
  }

  /** The last line of a reply, which has no newline. */
  end(): void {
    if (this.line) this.redraw();
  }

  private redraw(): void {
    const rows = Math.max(1, Math.ceil(displayWidth(this.line) / (this.out.columns || 80)));
    // Back to the start of the line's first row, clear to the end of the screen, write it styled.
    this.out.write(`\r${rows > 1 ? `\x1b[${rows - 1}A` : ""}\x1b[J${this.lines.render(this.line)}`);
    this.line = "";
  }
}

/** Columns a string takes in a terminal: wide (CJK, emoji) characters take two, combining marks none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if ((code >= 0x300 && code <= 0x36f) || code === 0x200d || (code >= 0xfe00 && code <= 0xfe0f)) continue;
    const wide =
      (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf) || (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1faff) || (code >= 0x20000 && code <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}
