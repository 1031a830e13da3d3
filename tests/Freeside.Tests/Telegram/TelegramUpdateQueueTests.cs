using Freeside.Features.Telegram;
using Telegram.Bot.Types;
using Telegram.Bot.Types.Enums;

namespace Freeside.Tests.Telegram;

public sealed class TelegramUpdateQueueTests
{
    [Fact]
    public void Enqueue_TwoUpdatesOfOneChat_SecondHandedOutOnlyAfterTheFirstCompletes()
    {
        var queue = new TelegramUpdateQueue();
        var first = Message(1, chat: 100);
        var second = Message(2, chat: 100);
        var other = Message(3, chat: 200);

        queue.Enqueue(first);
        queue.Enqueue(second);
        queue.Enqueue(other);

        Drain(queue).Select(u => u.Id).ShouldBe([1, 3]);
        queue.Complete(other);
        Drain(queue).ShouldBeEmpty();

        queue.Complete(first);
        Drain(queue).Select(u => u.Id).ShouldBe([2]);
        queue.Complete(second);

        // The chat is idle again: its next update is ready at once.
        queue.Enqueue(Message(4, chat: 100));
        Drain(queue).Select(u => u.Id).ShouldBe([4]);
    }

    [Fact]
    public void Enqueue_ManyUpdatesOfOneChat_HandedOutInArrivalOrder()
    {
        var queue = new TelegramUpdateQueue();
        for (var id = 1; id <= 50; id++)
        {
            queue.Enqueue(Message(id, chat: 7));
        }

        var order = new List<long>();
        while (queue.Reader.TryRead(out var update))
        {
            order.Add(update.Id);
            queue.Reader.TryRead(out _).ShouldBeFalse();
            queue.Complete(update);
        }

        order.ShouldBe(Enumerable.Range(1, 50).Select(i => (long)i));
    }

    [Fact]
    public void ChatOf_CallbackWithAndWithoutItsMessage_TheMessagesChatElseThePresser()
    {
        var withMessage = new Update { Id = 1, CallbackQuery = new CallbackQuery { Id = "c", From = new User { Id = 5 }, Message = new Message { Chat = new Chat { Id = -900, Type = ChatType.Group } } } };
        var withoutMessage = new Update { Id = 2, CallbackQuery = new CallbackQuery { Id = "d", From = new User { Id = 5 } } };

        TelegramUpdateQueue.ChatOf(withMessage).ShouldBe(-900);
        TelegramUpdateQueue.ChatOf(withoutMessage).ShouldBe(5);
    }

    private static Update Message(int id, long chat) =>
        new() { Id = id, Message = new Message { Chat = new Chat { Id = chat, Type = ChatType.Private }, From = new User { Id = chat }, Text = "hi" } };

    private static List<Update> Drain(TelegramUpdateQueue queue)
    {
        var ready = new List<Update>();
        while (queue.Reader.TryRead(out var update))
        {
            ready.Add(update);
        }

        return ready;
    }
}
