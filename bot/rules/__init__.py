"""Pure rules: functions of (state, now) → decision. No I/O, no aiogram; tested with hypothesis."""
