/* The "visually similar" carousel: arrow buttons and keyboard steps over a natively
 * scrolling track (touch and trackpads scroll it as they are). Without this script the
 * track still scrolls and every card stays reachable; the arrows stay hidden. */
(function () {
  "use strict";

  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function setup(carousel) {
    if (carousel.dataset.vsReady) return;
    carousel.dataset.vsReady = "1";
    var track = carousel.querySelector("[data-vs-track]");
    var prev = carousel.querySelector("[data-vs-prev]");
    var next = carousel.querySelector("[data-vs-next]");

    function cards() {
      return Array.prototype.slice.call(track.querySelectorAll(".vs-card"));
    }

    function start(card) {
      return card.offsetLeft - (parseFloat(getComputedStyle(track).paddingLeft) || 0);
    }

    // Steps land on card edges, so no card is left half-seen and scroll snapping never fights them.
    function nextPosition() {
      var edge = track.scrollLeft + track.clientWidth + 1;
      var card = cards().filter(function (c) { return c.offsetLeft + c.offsetWidth > edge; })[0];
      return card ? start(card) : maxScroll();
    }

    function previousPosition() {
      var target = track.scrollLeft - track.clientWidth;
      var card = cards().filter(function (c) { return start(c) >= target; })[0];
      return target <= 0 || !card ? 0 : start(card);
    }

    function maxScroll() {
      return track.scrollWidth - track.clientWidth;
    }

    function update() {
      var max = maxScroll();
      prev.hidden = next.hidden = max <= 1;
      prev.disabled = track.scrollLeft <= 1;
      next.disabled = track.scrollLeft >= max - 1;
    }

    function scrollTo(left) {
      track.scrollTo({ left: left, behavior: reducedMotion ? "auto" : "smooth" });
    }

    prev.addEventListener("click", function () { scrollTo(previousPosition()); });
    next.addEventListener("click", function () { scrollTo(nextPosition()); });
    track.addEventListener("keydown", function (event) {
      var moves = {
        ArrowRight: nextPosition(),
        ArrowLeft: previousPosition(),
        Home: 0,
        End: maxScroll(),
      };
      if (!(event.key in moves) || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      scrollTo(moves[event.key]);
    });

    var frame = 0;
    track.addEventListener("scroll", function () {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(update);
    }, { passive: true });
    track.addEventListener("load", update, true);  // lazy thumbnails change nothing in width, but be safe
    window.addEventListener("resize", update);
    update();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-vs-carousel]"), setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
