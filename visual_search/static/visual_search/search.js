/* Search by photo: progressive enhancement of the plain form in visual_search/search.html.
 *
 * Adds a drop zone, paste from the clipboard, a camera button, a preview, an optional
 * crop (Cropper.js, vendored), a loading state and results without a page reload: the
 * form is sent with fetch and the header X-Visual-Search-Fragment: 1, and the server
 * answers with the results fragment only. Words shown to people come from data-msg-*
 * attributes, translated by the template. No inline script or style is needed (CSP-safe).
 */
(function () {
  "use strict";

  var FRAGMENT_HEADER = "X-Visual-Search-Fragment";

  function init() {
    var root = document.querySelector("[data-vs-search]");
    if (!root || root.dataset.vsReady) return;
    root.dataset.vsReady = "1";
    root.classList.add("vs-js");

    var form = root.querySelector("[data-vs-form]");
    var input = form.querySelector("input[type=file][name=image]");
    var dropzone = root.querySelector("[data-vs-dropzone]");
    var preview = root.querySelector("[data-vs-preview]");
    var previewImage = root.querySelector("[data-vs-preview-image]");
    var caption = root.querySelector("[data-vs-caption]");
    var errors = root.querySelector("[data-vs-errors]");
    var results = root.querySelector("[data-vs-results]");
    var submit = root.querySelector("[data-vs-submit]");
    var cameraButton = root.querySelector("[data-vs-camera]");
    var cameraInput = root.querySelector("[data-vs-camera-input]");
    var cropActions = root.querySelector("[data-vs-crop-actions]");
    var cropButton = root.querySelector("[data-vs-crop]");
    var cropHint = root.querySelector("[data-vs-crop-hint]");
    var maxBytes = parseInt(root.dataset.maxBytes, 10) || Infinity;
    var submitLabel = submit.innerHTML;
    var cropLabel = cropButton ? cropButton.textContent : "";
    var photo = null;
    var objectUrl = null;
    var cropper = null;
    var pending = null;

    root.querySelector("[data-vs-hint]").hidden = false;
    if (window.matchMedia && window.matchMedia("(pointer: coarse)").matches) cameraButton.hidden = false;

    function msg(name, values) {
      var text = root.dataset[name] || "";
      Object.keys(values || {}).forEach(function (key) { text = text.replace("{" + key + "}", values[key]); });
      return text;
    }

    function megabytes(bytes) {
      var value = bytes / (1024 * 1024);
      return (value === Math.round(value) ? value.toFixed(0) : value.toFixed(1)) + " " + msg("msgMb");
    }

    function showErrors(nodes) {
      errors.replaceChildren.apply(errors, nodes);
    }

    function showError(text) {
      if (!text) return showErrors([]);
      var p = document.createElement("p");
      p.textContent = text;
      showErrors([p]);
    }

    function showPreview(src, label) {
      if (!src) return;
      previewImage.src = src;
      caption.textContent = label;
      preview.hidden = false;
      caption.hidden = false;
    }

    function likeInput(create) {
      var field = form.querySelector("[data-vs-like]");
      if (!field && create) {
        field = document.createElement("input");
        field.type = "hidden";
        field.name = "like";
        field.setAttribute("data-vs-like", "");
        form.appendChild(field);
      }
      return field;
    }

    function setInputFile(file) {
      // So that the form, even submitted some other way, carries the photo being shown.
      try {
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
      } catch (error) { /* an old browser: the fetch below still sends `photo` */ }
    }

    function accept(file) {
      if (!file) return;
      if (!/^image\//.test(file.type)) return showError(msg("msgNotImage"));
      if (file.size > maxBytes) return showError(msg("msgTooLarge", { size: megabytes(file.size) }));
      showError("");
      stopCrop();
      photo = file;
      var like = likeInput(false);
      if (like) like.remove();
      if (input.files[0] !== file) setInputFile(file);
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(file);
      showPreview(objectUrl, msg("msgYourPhoto"));
      if (cropActions) cropActions.hidden = typeof window.Cropper !== "function";
      search();
    }

    function setBusy(busy) {
      results.setAttribute("aria-busy", busy ? "true" : "false");
      submit.disabled = busy;
      if (busy) {
        var spinner = document.createElement("span");
        spinner.className = "vs-spinner";
        spinner.setAttribute("aria-hidden", "true");
        submit.replaceChildren(spinner, document.createTextNode(msg("msgSearching")));
      } else {
        submit.innerHTML = submitLabel;
      }
    }

    function search() {
      var data = new FormData(form);
      var like = likeInput(false);
      var request;
      var headers = {};
      headers[FRAGMENT_HEADER] = "1";
      if (pending) pending.abort();
      pending = new AbortController();
      if (!photo && like) {
        var params = new URLSearchParams();
        data.forEach(function (value, key) {
          if (typeof value === "string" && key !== "csrfmiddlewaretoken") params.append(key, value);
        });
        request = fetch(form.action + "?" + params.toString(), { headers: headers, signal: pending.signal });
      } else {
        if (photo) data.set("image", photo, photo.name || "photo.jpg");
        request = fetch(form.action, {
          method: "POST", body: data, headers: headers, signal: pending.signal, credentials: "same-origin",
        });
      }
      setBusy(true);
      request
        .then(function (response) {
          return response.text().then(function (html) { return { ok: response.ok, html: html }; });
        })
        .then(function (answer) {
          var doc = new DOMParser().parseFromString(answer.html, "text/html");
          var fragment = doc.querySelector("[data-vs-results-fragment]");
          var errorList = doc.querySelector("[data-vs-error-list]") || doc.querySelector("[role=alert]");
          if (errorList && !answer.ok) {
            showErrors(Array.prototype.map.call(errorList.querySelectorAll("p").length
              ? errorList.querySelectorAll("p") : [errorList], function (node) {
              var p = document.createElement("p");
              p.textContent = node.textContent.trim();
              return p;
            }));
            errors.scrollIntoView({ block: "nearest" });
            return;
          }
          if (!answer.ok || !fragment) return showError(msg("msgFailed"));
          showError("");
          results.replaceChildren(document.adoptNode(fragment));
          revealResults();
        })
        .catch(function (error) {
          if (error.name !== "AbortError") showError(msg("msgFailed"));
        })
        .finally(function () {
          setBusy(false);
        });
    }

    function coveredTop() {
      // A host's sticky or fixed header covers the top of the window: measure it, so it hides nothing.
      var node = document.elementFromPoint(window.innerWidth / 2, 1);
      for (; node && node !== document.body; node = node.parentElement) {
        var position = window.getComputedStyle(node).position;
        if (position === "sticky" || position === "fixed") return Math.max(0, node.getBoundingClientRect().bottom);
      }
      return 0;
    }

    function revealResults() {
      // On a narrow screen the results sit under the photo and the button, below the fold:
      // bring their top into view rather than leave the shopper guessing that anything happened.
      var top = results.getBoundingClientRect().top;
      var covered = coveredTop();
      if (top >= covered && top < window.innerHeight / 3) return;
      var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      window.scrollTo({ top: window.scrollY + top - covered - 8, behavior: reduce ? "auto" : "smooth" });
    }

    function stopCrop() {
      if (!cropper) return;
      cropper.destroy();
      cropper = null;
      cropButton.setAttribute("aria-pressed", "false");
      cropButton.textContent = cropLabel;
      cropHint.hidden = true;
    }

    function searchCropped() {
      var canvas = cropper.getCroppedCanvas({ maxWidth: 1600, maxHeight: 1600, fillColor: "#fff" });
      stopCrop();
      if (!canvas) return;  // the photo never loaded: nothing to cut
      canvas.toBlob(function (blob) {
        if (blob) accept(new File([blob], "crop.jpg", { type: "image/jpeg" }));
      }, "image/jpeg", 0.9);
    }

    input.addEventListener("change", function () { accept(input.files[0]); });
    cameraButton.addEventListener("click", function () { cameraInput.click(); });
    cameraInput.addEventListener("change", function () { accept(cameraInput.files[0]); });

    ["dragenter", "dragover"].forEach(function (type) {
      dropzone.addEventListener(type, function (event) {
        event.preventDefault();
        dropzone.classList.add("vs-drop--over");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      dropzone.addEventListener(type, function () { dropzone.classList.remove("vs-drop--over"); });
    });
    dropzone.addEventListener("drop", function (event) {
      event.preventDefault();
      accept(event.dataTransfer && event.dataTransfer.files[0]);
    });

    document.addEventListener("paste", function (event) {
      var items = (event.clipboardData && event.clipboardData.items) || [];
      for (var i = 0; i < items.length; i++) {
        if (items[i].kind === "file" && /^image\//.test(items[i].type)) {
          event.preventDefault();
          return accept(items[i].getAsFile());
        }
      }
    });

    if (cropButton) {
      cropButton.addEventListener("click", function () {
        if (cropper) return searchCropped();
        // Only an uploaded photo can be cropped and sent (not a result's image, not nothing).
        if (typeof window.Cropper !== "function" || !photo) return;
        // checkOrientation off: it re-reads the photo with XHR (a CSP connect-src hit); browsers rotate by EXIF already.
        cropper = new window.Cropper(previewImage, {
          viewMode: 1, autoCropArea: 0.85, background: false, checkOrientation: false,
        });
        cropButton.setAttribute("aria-pressed", "true");
        cropButton.textContent = msg("msgCropSearch");
        cropHint.hidden = false;
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (cropper) return searchCropped();
      search();
    });

    form.addEventListener("change", function (event) {
      // A filter changed: search again with what is on screen.
      if (event.target.type === "file") return;
      if (photo || likeInput(false)) search();
    });

    results.addEventListener("click", function (event) {
      var link = event.target.closest("[data-vs-more]");
      if (!link) return;
      event.preventDefault();
      var card = link.closest(".vs-card");
      var title = card && card.querySelector(".vs-card__title");
      stopCrop();
      photo = null;
      input.value = "";
      if (cropActions) cropActions.hidden = true;
      likeInput(true).value = new URL(link.href, location.href).searchParams.get("like");
      showPreview(link.dataset.vsImage, title ? title.textContent.trim() : "");
      history.pushState(null, "", link.href);
      search();
      root.scrollIntoView({ block: "start" });
    });

    window.addEventListener("popstate", function () { location.reload(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
