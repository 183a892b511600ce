/**
 * Markdown preview, loaded on first use. markdown-it with `html: false` escapes any HTML the student
 * wrote and refuses javascript:/vbscript:/data: links, so the output is safe to insert.
 */
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

export function render(text: string): string {
  return md.render(text);
}
