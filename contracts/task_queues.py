"""Task queue names. One queue per vendor, so that a slow vendor ties up only its own
queue's activity slots; workflows (with their local activities) and cheap database work run
on the base queue."""

from __future__ import annotations

from pydantic import BaseModel


class TaskQueues(BaseModel):
    portal: str
    salesforce: str
    whmcs: str
    freebit: str
    sftp: str

    @classmethod
    def for_base(cls, base: str) -> TaskQueues:
        return cls(
            portal=base,
            salesforce=f"{base}-salesforce",
            whmcs=f"{base}-whmcs",
            freebit=f"{base}-freebit",
            sftp=f"{base}-sftp",
        )
