"""The daily digest: what is new in the archive, grouped by cluster, rendered and mailed once.

`run_digest` is the whole job (the CLI is a thin shell over it):

1. choose the window — by default everything stored after the subscription's last *sent*
   digest (the last 24 hours when none was ever sent, 7 days for a weekly one); with `day=` one calendar day in the configured
   time zone, an archive view that does not move the "what is new" cursor;
2. build the model (`build_digest`): relevant originals published within
   `[digest] max_age_days`, each under its strongest cluster and cross-referenced under its
   others, syndicated copies folded in as "also reported by", and the sources' health;
3. render HTML and text (jinja2 templates in `templates/`), write .html/.txt/.eml;
4. with `send=True`, mail it: the row in `digests` is `sending` during the SMTP
   transaction and becomes `sent` only once the server accepted the message for every
   recipient, else `failed` — and the next run covers the same window again.

`run_digests` does this for every daily and weekly subscription (subscriptions.py),
each with its own window, rows (`digests.subscription`) and retries: one that fails does not
stop or repeat the others. A weekly subscription is mailed at the first run on or after its
weekday. Without `[[subscriptions]]` the one subscription is `[email]`'s, named "".
`select_stories` applies a subscription's filters to a window (also for the alerts of
alerts.py); `run_digests` then rewrites the Atom feeds (feeds.py).

A file lock beside the database keeps two digest processes from mailing one window twice.

Modules: `model` (window, selection, the digest's stories), `render` (HTML and text),
`mail` (the mail, its files, SMTP and the lock), `run` (the job), `subscriptions` (who gets
what), `alerts` (immediate mails after a crawl) and `feeds` (Atom).
"""
