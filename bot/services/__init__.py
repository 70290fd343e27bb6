"""Services: one module per capability; they combine rules and storage. No aiogram imports."""
