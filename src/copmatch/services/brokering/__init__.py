"""Knowledge brokering: who should meet (suggest), how a pair is scored (score), why
(reasons), and the broker's review of each introduction (review)."""
