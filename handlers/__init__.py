"""aiogram routers only: parse, call a service from bot/, reply. The order of `all_routers` matters."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    account,
    campaign,
    consent,
    errors,
    fallback,
    help,
    language,
    loyalty,
    nudges,
    owner,
    staff,
    staff_loyalty,
    surveys,
)


def all_routers() -> list[Router]:
    """Fresh routers for one dispatcher, most specific first."""
    return [
        errors.get_router(),  # error handlers only; sees exceptions from every router below
        staff.get_router(),  # before the customer routers: staff commands are filtered by numeric id
        campaign.get_router(),  # before owner: its catch-all tells non-owner staff "owners only"
        owner.get_router(),
        staff_loyalty.get_router(),
        surveys.get_staff_router(),
        consent.get_router(),
        account.get_router(),
        loyalty.get_router(),
        nudges.get_router(),
        surveys.get_router(),  # before help/fallback: a typed comment to a survey is not "free text"
        language.get_router(),
        help.get_router(),
        fallback.get_router(),  # catch-all: unknown commands and free text; must stay last
    ]
