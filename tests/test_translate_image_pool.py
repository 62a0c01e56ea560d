"""CycleGAN's image pool (ctl.translate.image_pool): what it returns before and after it is full, seeding,
detaching, the saved state, and bad input. Images are constant tensors filled with their index, so that every
returned image can be traced back to the query that gave it."""
import pytest
import torch

from ctl.translate import ImagePool


def numbered(first: int, count: int) -> torch.Tensor:
    """``count`` images (1, 2, 2), image k filled with the value first + k: (count, 1, 2, 2)."""
    return torch.arange(first, first + count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 1, 2, 2).clone()


def ids(images: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in images]


def test_until_full_the_pool_returns_what_it_was_given():
    pool = ImagePool(size=5)
    first = numbered(0, 3)
    assert torch.equal(pool.query(first), first) and len(pool) == 3
    second = numbered(3, 2)  # exactly fills the pool
    assert torch.equal(pool.query(second), second)
    assert pool.full and ids(pool.images) == [0, 1, 2, 3, 4]
    torch.manual_seed(0)
    out = pool.query(numbered(5, 4))  # from now on each image may be swapped for an older one
    assert len(pool) == 5 and set(ids(out)) <= set(range(9))


def test_once_full_half_of_the_returned_images_are_older_ones():
    torch.manual_seed(0)
    pool = ImagePool(size=4)
    pool.query(numbered(0, 4))
    older = 0
    for k in range(4, 804):
        before = ids(pool.images)
        (returned,) = ids(pool.query(numbered(k, 1)))
        after = ids(pool.images)
        if returned == k:  # the new image comes back and the pool is unchanged
            assert after == before
        else:  # an older image comes back, and the new one takes its place
            older += 1
            assert returned in before
            slot = before.index(returned)
            assert after == before[:slot] + [k] + before[slot + 1:]
        assert len(pool) == 4
    assert 0.45 < older / 800 < 0.55  # binomial(800, 1/2): std 0.018


def test_the_choices_follow_the_global_seed():
    outputs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        pool = ImagePool(size=3)
        outputs.append([ids(pool.query(numbered(k, 2))) for k in range(0, 40, 2)])
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_size_zero_switches_the_pool_off():
    pool = ImagePool(size=0)
    images = numbered(0, 3)
    assert torch.equal(pool.query(images), images) and len(pool) == 0


def test_returned_images_are_detached_copies():
    pool = ImagePool(size=2)
    images = numbered(0, 2).requires_grad_(True)
    out = pool.query(images * 1.0)
    assert not out.requires_grad
    with torch.no_grad():
        images.add_(100)  # changing the caller's tensor afterwards does not change the pool
    assert ids(pool.images) == [0, 1]


def test_a_restored_pool_continues_exactly_like_the_original(tmp_path):
    torch.manual_seed(0)
    pool = ImagePool(size=3)
    for k in range(0, 8, 2):
        pool.query(numbered(k, 2))
    torch.save(pool.state_dict(), tmp_path / "pool.pt")
    rng = torch.get_rng_state()
    expected = [ids(pool.query(numbered(k, 2))) for k in range(100, 120, 2)]

    restored = ImagePool(size=3)
    restored.load_state_dict(torch.load(tmp_path / "pool.pt", weights_only=True))
    torch.set_rng_state(rng)
    assert [ids(restored.query(numbered(k, 2))) for k in range(100, 120, 2)] == expected


def test_an_empty_pool_round_trips():
    restored = ImagePool(size=2)
    restored.load_state_dict(ImagePool(size=2).state_dict())
    assert len(restored) == 0
    assert ids(restored.query(numbered(7, 1))) == [7]


@pytest.mark.parametrize("make, match", [
    (lambda: ImagePool(-1), "pool size must be >= 0"),
    (lambda: ImagePool(2).query(torch.zeros(1, 2, 2)), r"expected generated images \(B, C, H, W\)"),
    (lambda: (p := ImagePool(2), p.query(numbered(0, 1)), p.query(torch.zeros(1, 1, 3, 3))), "use one pool per"),
    (lambda: ImagePool(1).load_state_dict(ImagePool(3).state_dict() | {"_extra_state": {
        "images": numbered(0, 3), "size": 3}}), "holds 3 images, more than this pool's size 1"),
])
def test_bad_input_is_explained(make, match):
    with pytest.raises(ValueError, match=match):
        make()
