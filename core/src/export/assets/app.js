// ChatVault export: search over the exported messages, in the browser, without a network.
// Each conversation's messages are in chats/<stem>/search.js, loaded (as a script, which
// works from file://) the first time a search needs them.
(function () {
  'use strict';
  var body = document.body;
  var root = body.getAttribute('data-root') || '';
  var sets = {};     // stem -> rows [page, seq, time, sender, text, lowercased text]
  var waiting = {};  // stem -> callbacks
  var names = {};
  // The page's language: its texts for this script (cv-text), English without them.
  var text = {
    'js-searching': 'Searching…', 'js-none': 'No messages found',
    'js-found-one': '1 message found', 'js-found-many': '%n messages found',
    'js-first-shown': '(first %n shown)'
  };
  var given = document.getElementById('cv-text');
  if (given) {
    var t = JSON.parse(given.textContent);
    Object.keys(t).forEach(function (k) { text[k] = t[k]; });
  }
  function say(id, n) { return text[id].replace('%n', String(n)); }
  var own = body.getAttribute('data-stem');
  if (own) {
    names[own] = body.getAttribute('data-name') || own;
  } else {
    var data = document.getElementById('cv-names');
    if (data) { names = JSON.parse(data.textContent); }
  }

  window.CV = {
    add: function (stem, rows) {
      for (var i = 0; i < rows.length; i++) { rows[i].push(String(rows[i][4]).toLowerCase()); }
      sets[stem] = rows;
      var cbs = waiting[stem] || [];
      delete waiting[stem];
      cbs.forEach(function (cb) { cb(); });
    }
  };

  function load(stem, cb) {
    if (sets[stem]) { cb(); return; }
    if (waiting[stem]) { waiting[stem].push(cb); return; }
    waiting[stem] = [cb];
    var s = document.createElement('script');
    s.src = root + 'chats/' + encodeURIComponent(stem) + '/search.js';
    s.onerror = function () { sets[stem] = []; window.CV.add(stem, []); };
    document.head.appendChild(s);
  }

  function pad(n) { n = String(n); while (n.length < 4) { n = '0' + n; } return n; }

  function snippet(text, q) {
    var lower = text.toLowerCase(), at = lower.indexOf(q), start = Math.max(0, at - 40);
    var frag = document.createDocumentFragment();
    var pre = (start > 0 ? '…' : '') + text.slice(start, at);
    frag.appendChild(document.createTextNode(pre));
    var mark = document.createElement('mark');
    mark.textContent = text.slice(at, at + q.length);
    frag.appendChild(mark);
    var rest = text.slice(at + q.length);
    frag.appendChild(document.createTextNode(rest.length > 80 ? rest.slice(0, 80) + '…' : rest));
    return frag;
  }

  var results = document.querySelector('.results');
  var input = document.querySelector('.search input');
  var generation = 0;

  function show(q, token) {
    if (token !== generation) { return; }
    var stems = Object.keys(names), hits = [], total = 0, limit = 200;
    stems.forEach(function (stem) {
      (sets[stem] || []).forEach(function (r) {
        if (r[5].indexOf(q) >= 0) { total++; hits.push([stem, r]); }
      });
    });
    // Newest first (times are "YYYY-MM-DD HH:MM", so they sort as text).
    hits.sort(function (a, b) { return a[1][2] < b[1][2] ? 1 : a[1][2] > b[1][2] ? -1 : 0; });
    hits = hits.slice(0, limit);
    results.textContent = '';
    var head = document.createElement('div');
    head.className = 'found';
    head.textContent = total === 0 ? say('js-none')
      : say(total === 1 ? 'js-found-one' : 'js-found-many', total) + (total > limit ? ' ' + say('js-first-shown', limit) : '');
    results.appendChild(head);
    hits.forEach(function (h) {
      var stem = h[0], r = h[1];
      var a = document.createElement('a');
      a.href = root + 'chats/' + encodeURIComponent(stem) + '/page-' + pad(r[0]) + '.html#m' + r[1];
      var where = document.createElement('div');
      where.className = 'where';
      where.textContent = (own ? '' : names[stem] + ' · ') + r[2] + (r[3] ? ' · ' + r[3] : '');
      a.appendChild(where);
      a.appendChild(snippet(String(r[4]), q));
      results.appendChild(a);
    });
    results.hidden = false;
  }

  function search(q) {
    var token = ++generation;
    q = q.trim().toLowerCase();
    if (!q) { results.hidden = true; results.textContent = ''; return; }
    var stems = Object.keys(names), left = stems.length;
    results.hidden = false;
    results.textContent = say('js-searching');
    if (left === 0) { show(q, token); return; }
    stems.forEach(function (stem) {
      load(stem, function () { if (--left === 0) { show(q, token); } });
    });
  }

  if (input && results) {
    var timer = null;
    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { search(input.value); }, 150);
    });
    input.form.addEventListener('submit', function (e) { e.preventDefault(); search(input.value); });
  }

  // A thumbnail that is not in the export falls back to the full image.
  document.querySelectorAll('img[data-full]').forEach(function (img) {
    function fallBack() {
      var full = img.getAttribute('data-full');
      if (full && img.getAttribute('src') !== full) { img.setAttribute('src', full); return; }
      // The file is there but this browser cannot decode it: say so, keep the link.
      var note = document.createElement('span');
      note.className = 'file';
      note.textContent = '🖼 Image this browser cannot show (open the file)';
      img.replaceWith(note);
    }
    img.addEventListener('error', fallBack);
    if (img.complete && img.naturalWidth === 0 && img.getAttribute('src')) { fallBack(); }
  });
})();
