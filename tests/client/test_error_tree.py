"""The error tree: our gate's refusal is not a server's 429, and .path is always the URL path."""

from __future__ import annotations

from typing import Any

import pytest

from northflank_async import (
    APIError,
    DecodeError,
    NorthflankClient,
    RateLimitError,
    RateLimitGateError,
    TooManyRequestsError,
)
from northflank_async.testing import FakeNorthflank

from ..conftest import BASE, LIST_URL, TOKEN, list_page

P, J = "proj", "job"


class TestRateLimitErrors:
    async def test_the_gate_refuses_without_a_fake_status(self) -> None:
        """A window spent for an hour: RateLimitGateError, no status, nothing sent."""
        async with FakeNorthflank(rate_limit=(1, 3600.0)) as fake:
            fake.add_job(P, J, builds=3)
            async with NorthflankClient(fake.token, base_url=fake.base_url) as nf:
                await nf.jobs.builds.list(project_id=P, job_id=J, limit=1).collect()
                with pytest.raises(RateLimitGateError) as info:
                    await nf.jobs.builds.get(project_id=P, job_id=J, build_id="b")
        error = info.value
        assert isinstance(error, RateLimitError) and not isinstance(error, APIError)
        assert not hasattr(error, "status")
        assert error.path == f"/v1/projects/{P}/jobs/{J}/build/b" and error.method == "GET"
        assert error.retry_after is not None and error.retry_after > 3000
        assert "not sent" in str(error)
        assert fake.request_count == 1

    async def test_a_servers_429_is_both_kinds(self, mocked: Any) -> None:
        """The API's 429 is a TooManyRequestsError: an APIError and a RateLimitError."""
        mocked.get(
            f"{LIST_URL}?per_page=100",
            status=429,
            payload={"error": {"status": 429, "message": "slow down"}},
            headers={"Retry-After": "7200"},
        )
        async with NorthflankClient(TOKEN, base_url=BASE, max_retries=3) as nf:
            with pytest.raises(TooManyRequestsError) as info:
                await nf.jobs.builds.list(project_id=P, job_id=J).collect()
        error = info.value
        assert isinstance(error, APIError) and isinstance(error, RateLimitError)
        assert (error.status, error.message, error.retry_after) == (429, "slow down", 7200.0)
        assert error.path == f"/v1/projects/{P}/jobs/{J}/build"


class TestDecodeErrorNamesFieldAndRequest:
    async def test_field_is_the_json_path_and_path_the_url(self, mocked: Any) -> None:
        """A bad build on a page: .field is data.builds[1].createdAt, .path the URL path."""
        page = list_page(range(2))
        page["data"]["builds"][1]["createdAt"] = "not a date"
        mocked.get(f"{LIST_URL}?per_page=100", payload=page)
        async with NorthflankClient(TOKEN, base_url=BASE) as nf:
            with pytest.raises(DecodeError) as info:
                await nf.jobs.builds.list(project_id=P, job_id=J).collect()
        error = info.value
        assert error.field == "data.builds[1].createdAt"
        assert (error.method, error.path) == ("GET", f"/v1/projects/{P}/jobs/{J}/build")
        assert str(error).startswith(f"GET /v1/projects/{P}/jobs/{J}/build: data.builds[1]")

    async def test_a_body_that_is_not_json_names_the_request(self, mocked: Any) -> None:
        """A 200 whose body is not JSON: no field, but the request is named."""
        mocked.get(f"{BASE}/v1/projects/{P}/jobs/{J}/build/b", body=b"<html>", status=200)
        async with NorthflankClient(TOKEN, base_url=BASE) as nf:
            with pytest.raises(DecodeError) as info:
                await nf.jobs.builds.get(project_id=P, job_id=J, build_id="b")
        assert info.value.field == ""
        assert info.value.path == f"/v1/projects/{P}/jobs/{J}/build/b"
