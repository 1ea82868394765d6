// A report as a list of blocks (headings, paragraphs, tables, figures, lists), rendered once
// as Markdown and once as a standalone HTML page, so that the two never say different things.
// Inline text may use `code` spans, **bold** and [links](relative/path); everything else is
// escaped in HTML.
#pragma once
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ranklens/interp/markup_escape.hpp"

namespace paper_report {

struct Heading {
  int level;
  std::string text;
};
struct Paragraph {
  std::string text;
};
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string align;  // one 'l' or 'r' per column; empty: the first left, the others (numbers) right
  bool right_aligned(std::size_t column) const { return align.empty() ? column > 0 : column < align.size() && align[column] == 'r'; }
};
struct Figure {
  std::string path;  // relative to the report
  std::string caption;
};
struct BulletList {
  std::vector<std::string> items;
};
struct CodeBlock {
  std::string text;
};
using Block = std::variant<Heading, Paragraph, Table, Figure, BulletList, CodeBlock>;

class Document {
 public:
  Document& heading(int level, std::string text) { return add(Heading{level, std::move(text)}); }
  Document& paragraph(std::string text) { return add(Paragraph{std::move(text)}); }
  Document& table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows, std::string align = {}) {
    return add(Table{std::move(header), std::move(rows), std::move(align)});
  }
  Document& figure(std::string path, std::string caption) { return add(Figure{std::move(path), std::move(caption)}); }
  Document& bullets(std::vector<std::string> items) { return add(BulletList{std::move(items)}); }
  Document& code(std::string text) { return add(CodeBlock{std::move(text)}); }
  const std::vector<Block>& blocks() const { return blocks_; }

 private:
  Document& add(Block block) {
    blocks_.push_back(std::move(block));
    return *this;
  }
  std::vector<Block> blocks_;
};

namespace render_detail {
using ranklens::interp::escape_markup;

// `code` and **bold** to HTML, the rest escaped.
inline std::string inline_html(const std::string& text) {
  std::string out;
  bool in_code = false, in_bold = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '`') {
      out += in_code ? "</code>" : "<code>";
      in_code = !in_code;
    } else if (!in_code && text[i] == '[') {
      const auto close = text.find("](", i);
      const auto end = close == std::string::npos ? close : text.find(')', close);
      if (end == std::string::npos) {
        out += '[';
        continue;
      }
      out += "<a href=\"" + escape_markup(text.substr(close + 2, end - close - 2)) + "\">" + escape_markup(text.substr(i + 1, close - i - 1)) + "</a>";
      i = end;
    } else if (!in_code && text.compare(i, 2, "**") == 0) {
      out += in_bold ? "</strong>" : "<strong>";
      in_bold = !in_bold;
      ++i;
    } else {
      out += escape_markup(std::string(1, text[i]));
    }
  }
  if (in_code) out += "</code>";
  if (in_bold) out += "</strong>";
  return out;
}

// " cell |", with the cell's own bars escaped (appended piecewise: GCC 12 warns falsely,
// -Wrestrict, on " " + string).
inline void append_cell(std::string& md, const std::string& cell) {
  md += ' ';
  for (const char c : cell) {
    if (c == '|') md += '\\';
    md += c;
  }
  md += " |";
}
}  // namespace render_detail

inline std::string to_markdown(const Document& document) {
  using render_detail::append_cell;
  std::string md;
  for (const Block& block : document.blocks()) {
    if (const auto* h = std::get_if<Heading>(&block)) {
      md += std::string(std::size_t(h->level), '#') + " " + h->text + "\n\n";
    } else if (const auto* p = std::get_if<Paragraph>(&block)) {
      md += p->text + "\n\n";
    } else if (const auto* t = std::get_if<Table>(&block)) {
      md += "|";
      for (const auto& cell : t->header) append_cell(md, cell);
      md += "\n|";
      for (std::size_t i = 0; i < t->header.size(); ++i) md += t->right_aligned(i) ? "--:|" : "---|";
      md += "\n";
      for (const auto& row : t->rows) {
        md += "|";
        for (const auto& cell : row) append_cell(md, cell);
        md += "\n";
      }
      md += "\n";
    } else if (const auto* f = std::get_if<Figure>(&block)) {
      md += "![";  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + string
      md += f->caption + "](" + f->path + ")\n\n*" + f->caption + "*\n\n";
    } else if (const auto* l = std::get_if<BulletList>(&block)) {
      for (const auto& item : l->items) md += "- " + item + "\n";
      md += "\n";
    } else if (const auto* c = std::get_if<CodeBlock>(&block)) {
      md += "```sh\n" + c->text + "\n```\n\n";
    }
  }
  return md;
}

inline std::string to_html(const Document& document, const std::string& title) {
  using namespace render_detail;
  std::string html =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_markup(title) +
      "</title>\n<style>\n"
      "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\n"
      "table{border-collapse:collapse;margin:0.5em 0 1.2em}th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}"
      ".r{text-align:right;white-space:nowrap}th{background:#f3f3f3}\n"
      "figure{margin:1em 0 1.6em}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:0.92em}\n"
      "code{background:#f4f4f4;padding:0 0.2em}pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}\n"
      "h1{border-bottom:2px solid #ddd}h2{border-bottom:1px solid #eee;margin-top:1.8em}\n"
      "</style></head><body>\n";
  for (const Block& block : document.blocks()) {
    if (const auto* h = std::get_if<Heading>(&block)) {
      const std::string tag = "h" + std::to_string(h->level);
      html += "<" + tag + ">" + inline_html(h->text) + "</" + tag + ">\n";
    } else if (const auto* p = std::get_if<Paragraph>(&block)) {
      html += "<p>" + inline_html(p->text) + "</p>\n";
    } else if (const auto* t = std::get_if<Table>(&block)) {
      html += "<table><tr>";
      const auto open = [&](const char* tag, std::size_t column) {
        return std::string("<") + tag + (t->right_aligned(column) ? " class=\"r\">" : ">");
      };
      for (std::size_t c = 0; c < t->header.size(); ++c) html += open("th", c) + inline_html(t->header[c]) + "</th>";
      html += "</tr>\n";
      for (const auto& row : t->rows) {
        html += "<tr>";
        for (std::size_t c = 0; c < row.size(); ++c) html += open("td", c) + inline_html(row[c]) + "</td>";
        html += "</tr>\n";
      }
      html += "</table>\n";
    } else if (const auto* f = std::get_if<Figure>(&block)) {
      html += "<figure><img src=\"" + escape_markup(f->path) + "\" alt=\"" + escape_markup(f->caption) + "\"><figcaption>" +
              inline_html(f->caption) + "</figcaption></figure>\n";
    } else if (const auto* l = std::get_if<BulletList>(&block)) {
      html += "<ul>\n";
      for (const auto& item : l->items) html += "<li>" + inline_html(item) + "</li>\n";
      html += "</ul>\n";
    } else if (const auto* c = std::get_if<CodeBlock>(&block)) {
      html += "<pre><code>" + escape_markup(c->text) + "</code></pre>\n";
    }
  }
  return html + "</body></html>\n";
}

}  // namespace paper_report
