"""The regulator acting: bans (imposing, effects, lifting with four eyes, re-screening),
人证合一 on-site checks, 双随机 inspections, and the credit feed."""
