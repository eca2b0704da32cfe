"""The pages, one blueprint per area; each view parses input and calls the library."""

from sandbox_cms.web.views import backoffice, clock, customers, mydata, policy, records, shop

BLUEPRINTS = [
    backoffice.bp, customers.bp, records.bp, policy.bp, clock.bp, shop.bp, mydata.bp,
]
