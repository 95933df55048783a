"""The report's HTML copy: the Markdown subset the report uses, escaped, figures inline."""

from sparsa.reports.html import markdown_to_html


def test_the_report_subset_renders_and_images_are_inline(tmp_path):
    (tmp_path / "fig.png").write_bytes(b"\x89PNG fake")
    text = "\n".join([
        "# Title <x>", "", "A *short* paragraph with `code` and **bold**,", "over two lines.",
        "", "| a | b |", "|---|---:|", "| 1 & 2 | 3 |", "", "![a figure](fig.png)", "",
        "![missing](none.png)", "", "- one", "- two", "  continued", "", "```", "x < y", "```"])
    page = markdown_to_html(text, tmp_path)
    assert "<h1>Title &lt;x&gt;</h1>" in page
    assert ("<p>A <em>short</em> paragraph with <code>code</code> and <strong>bold</strong>, "
            "over two lines.</p>") in page
    assert "<tr><th>a</th><th>b</th></tr><tr><td>1 &amp; 2</td><td>3</td></tr>" in page
    assert '<img alt="a figure" src="data:image/png;base64,iVBORyBmYWtl">' in page
    assert '<img alt="missing" src="none.png">' in page
    assert "<ul><li>one</li><li>two continued</li></ul>" in page
    assert "<pre><code>x &lt; y</code></pre>" in page
