// Draw the maths of a page with the local KaTeX (Sphinx's \( \) and \[ \] markup), after the page is parsed.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof renderMathInElement !== "function") return;
  for (const el of document.querySelectorAll(".math")) {
    renderMathInElement(el, {
      delimiters: [
        {left: "\\[", right: "\\]", display: true},
        {left: "\\(", right: "\\)", display: false},
      ],
      throwOnError: false,
    });
  }
});
