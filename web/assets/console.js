// iamgate console: upload, delete and share. No inline script (CSP), no
// dependencies. Every request goes to the same origin with the session
// cookie and the CSRF token of the page.
"use strict";
(function () {
  var meta = document.querySelector('meta[name="iamgate-csrf"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var listing = document.getElementById("listing");
  if (!listing) return;
  var bucket = listing.getAttribute("data-bucket");
  var prefix = listing.getAttribute("data-prefix");

  // objectURL escapes every segment of the key, keeping the slashes.
  function objectURL(key) {
    return "/" + encodeURIComponent(bucket) + "/" + key.split("/").map(function (s) {
      return encodeURIComponent(s).replace(/[!'()*]/g, function (c) {
        return "%" + c.charCodeAt(0).toString(16).toUpperCase();
      });
    }).join("/");
  }

  // s3Message extracts the human-readable Message of an S3 error document.
  function s3Message(status, text) {
    try {
      var doc = new DOMParser().parseFromString(text || "", "application/xml");
      var m = doc.getElementsByTagName("Message")[0];
      if (m && m.textContent) return m.textContent;
    } catch (e) { /* fall through */ }
    return "The request failed (HTTP " + status + ").";
  }

  function show(el, text, denied) {
    el.textContent = text;
    if (denied) {
      el.classList.add("denied");
      el.setAttribute("role", "alert");
    } else {
      el.classList.remove("denied");
      el.setAttribute("role", "status");
    }
  }

  // Upload: one PUT of the file, streamed by the browser; the proxy does
  // not buffer it.
  var form = document.getElementById("upload-form");
  var input = document.getElementById("upload-file");
  var progress = document.getElementById("upload-progress");
  var ustatus = document.getElementById("upload-status");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var file = input.files && input.files[0];
      if (!file) { show(ustatus, "Choose a file first.", true); return; }
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", objectURL(prefix + file.name));
      xhr.setRequestHeader("X-Iamgate-CSRF", csrf);
      if (file.type) xhr.setRequestHeader("Content-Type", file.type);
      progress.value = 0;
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) progress.value = Math.floor(100 * e.loaded / e.total);
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          progress.value = 100;
          show(ustatus, "Uploaded", false);
        } else {
          show(ustatus, s3Message(xhr.status, xhr.responseText), true);
        }
      };
      xhr.onerror = function () { show(ustatus, "The upload failed: the connection was lost.", true); };
      show(ustatus, "Uploading " + file.name + "…", false);
      xhr.send(file);
    });
  }

  var status = document.getElementById("status");
  var dialog = document.getElementById("share-dialog");
  var shareKey = null;

  listing.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button");
    if (!btn) return;
    var row = btn.closest("tr.object");
    if (!row) return;
    var key = row.getAttribute("data-key");
    if (btn.classList.contains("delete")) {
      if (!window.confirm("Delete " + key + "?")) return;
      fetch(objectURL(key), { method: "DELETE", headers: { "X-Iamgate-CSRF": csrf }, credentials: "same-origin" })
        .then(function (res) {
          return res.text().then(function (text) {
            if (res.ok) {
              row.parentNode.removeChild(row);
              show(status, "Deleted " + key, false);
            } else {
              show(status, s3Message(res.status, text), true);
            }
          });
        })
        .catch(function () { show(status, "The delete failed: the connection was lost.", true); });
    } else if (btn.classList.contains("share")) {
      shareKey = key;
      document.getElementById("share-key").textContent = key;
      document.getElementById("share-url").value = "";
      show(document.getElementById("share-status"), "", false);
      if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
      document.getElementById("share-ttl").focus();
    }
  });

  if (dialog) {
    document.getElementById("share-create").addEventListener("click", function () {
      var sstatus = document.getElementById("share-status");
      var body = new URLSearchParams();
      body.set("bucket", bucket);
      body.set("key", shareKey);
      body.set("ttl", document.getElementById("share-ttl").value);
      fetch("/_iamgate/share", { method: "POST", body: body, credentials: "same-origin",
        headers: { "X-Iamgate-CSRF": csrf } })
        .then(function (res) { return res.json(); })
        .then(function (r) {
          if (r.url) {
            var out = document.getElementById("share-url");
            out.value = r.url;
            out.select();
            show(sstatus, "Valid for " + r.lifetime + " (until " + r.expires + ")" +
              (r.capped ? ", shortened to fit your session and role." : "."), false);
          } else {
            show(sstatus, r.error || "The link could not be created.", true);
          }
        })
        .catch(function () { show(sstatus, "The link could not be created.", true); });
    });
    document.getElementById("share-copy").addEventListener("click", function () {
      var out = document.getElementById("share-url");
      if (navigator.clipboard && out.value) navigator.clipboard.writeText(out.value);
    });
    document.getElementById("share-close").addEventListener("click", function () {
      if (dialog.close) dialog.close(); else dialog.removeAttribute("open");
    });
  }
})();
