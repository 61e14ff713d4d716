"""Operations: what a watchdog or cron asks of a store (``hmas health``)."""
