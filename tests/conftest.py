"""Shared fixtures: a user per role (personas), logged-in clients, and quick password hashing."""

from __future__ import annotations

import pytest
from django.test import Client

from tsunagari.core.models import User
from tsunagari.core.roles import Role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 is the production hasher; tests need many users, not slow hashes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db):
    def make(role: str = Role.MARKETING, username: str | None = None, **extra) -> User:
        name = username or f"{role}-{User.objects.count() + 1}"
        return User.objects.create_user(
            username=name, password="correct horse battery", role=role, **extra
        )

    return make


@pytest.fixture
def admin_user(make_user) -> User:
    return make_user(Role.ADMIN, username="admin")


@pytest.fixture
def marketer(make_user) -> User:
    return make_user(Role.MARKETING, username="marketer")


@pytest.fixture
def reader(make_user) -> User:
    return make_user(Role.READ_ONLY, username="reader")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(admin_user) -> Client:
    return client_for(admin_user)


@pytest.fixture
def marketer_client(marketer) -> Client:
    return client_for(marketer)


@pytest.fixture
def reader_client(reader) -> Client:
    return client_for(reader)
