"""Listening tests served by voxflow: the MUSHRA packages of `voxflow.evaluation.mushra` and the
AB preference packages of `voxflow.evaluation.preference`, taken in a browser by several
listeners at once, their ratings kept in SQLite and analysed by the existing analyses.

One module per job:

    package.py   read a test package (webMUSHRA folder or AB folder) into `TestPackage`
    pages.py     what one listener gets: the order of pages and conditions, each page's content,
                 its audio, and the answer each page accepts (validated)
    store.py     SQLite: listeners (token hashes), submitted pages and their answers
    app.py       the FastAPI app (HTTP, tokens, error messages) and `serve`
    export.py    the ratings as webMUSHRA's mushra.csv or the AB analysis's ratings CSV
    analyze.py   the existing analysis of those, logged to a registered model version's run
    static/      the browser side: plain HTML, JavaScript and CSS, no build step

Blind by construction: a page names its conditions by letters in the listener's own random
order, and audio is fetched by (page, letter); the mapping to systems never leaves the server.
Only files that the package's configuration lists are served, looked up by id, so no path from
a request ever reaches the file system.
"""
