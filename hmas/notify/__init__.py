"""Notifications (send-only): approved signals, guardian pauses and the kill switch, to Telegram
and Discord, rate-limited; a failed message is logged and counted, never fails the run."""
