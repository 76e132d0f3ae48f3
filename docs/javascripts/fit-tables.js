// Terminal tables and box diagrams (lines drawn with box-drawing characters) keep their
// lines: wrapping, which docs/stylesheets/extra.css gives every other code block, would
// break their columns. One wider than the text column gets a smaller font, down to 60%,
// so that it fits (at 1280 px every table of these docs does); beyond that it scrolls.
// tests/docs/test_browser.py checks that no code block scrolls sideways at 1280 px.
(function () {
  var BOX = /[\u2500-\u257F]/;
  function fit() {
    document.querySelectorAll(".md-typeset pre > code").forEach(function (code) {
      if (!BOX.test(code.textContent)) return;
      code.classList.add("uc-table");
      code.style.fontSize = "";
      if (code.clientWidth === 0 || code.scrollWidth <= code.clientWidth) return;
      var size = parseFloat(window.getComputedStyle(code).fontSize);
      var smallest = size * 0.6;
      // Padding scales with the font too (em), so converge in a few steps.
      for (var i = 0; i < 4 && code.scrollWidth > code.clientWidth; i++) {
        size = Math.max(smallest, size * (code.clientWidth - 1) / code.scrollWidth);
        code.style.fontSize = size + "px";
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fit);
  } else {
    fit();
  }
  window.addEventListener("resize", fit);
})();
