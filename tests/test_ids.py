import uuid

from asyncstore import new_id


def test_ids_are_uuid7_and_strictly_increasing() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert str(parsed) == ids[0] and len(ids[0]) == 36


def test_a_forked_child_never_repeats_its_parents_random_bits() -> None:
    """Randomness is pooled: a child that kept its parent's pool would make the same ids'
    random parts as the parent, in the same millisecond possibly the same ids."""
    import multiprocessing

    new_id()  # the parent's pool is filled now
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        child = pool.apply(_random_parts, (200,))
    parent = _random_parts(200)
    assert not set(child) & set(parent)


def _random_parts(count: int) -> list[str]:
    from asyncstore.ids import new_ids

    return [row_id[-17:] for row_id in new_ids(count)]
