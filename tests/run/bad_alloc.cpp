// Under `memgov run --limit 64M`: operator new of more than the cap throws std::bad_alloc, which the program
// catches; a vector that fits is built afterwards.
#include <cstdio>
#include <new>
#include <vector>

int main()
{
    bool caught = false;
    try {
        std::vector<char> v(size_t(256) << 20);
        std::printf("bad_alloc: got %zu bytes above the cap\n", v.size());
    } catch (const std::bad_alloc &e) {
        caught = true;
        std::printf("bad_alloc: caught std::bad_alloc (%s)\n", e.what());
    }
    std::vector<int> fits(size_t(4) << 20, 1);
    long sum = 0;
    for (int x : fits)
        sum += x;
    std::printf("bad_alloc: sum %ld\n", sum);
    return caught && sum == (long(4) << 20) ? 0 : 1;
}
