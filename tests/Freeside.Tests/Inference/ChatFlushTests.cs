using Freeside.Features.Inference;
using Freeside.Tests.Identity;
using Freeside.Tests.Infrastructure;

namespace Freeside.Tests.Inference;

/// <summary>
/// A sink may hold tokens until the chat flushes, and the chat flushes whenever it is about to wait for finn: tokens
/// that reached Freeside together may leave in one write, and a token never waits for the next one.
/// </summary>
public abstract class ChatFlushTests(ChatApp app)
{
    protected async Task<List<string>> ChatAsync(string slug)
    {
        await ChatHttp.CommunityAsync(app, slug, app.Chain.Collection);
        var sink = new RecordingSink();
        var chat = await app.SendAsync(new Chat.Command(slug, "1", TestWallet.Demo.Address, "hello agent", null, ChatSource.Web, sink));
        chat.IsSuccess.ShouldBeTrue(chat.Error?.Detail);
        chat.Value.Completed.ShouldBeTrue();
        return sink.Calls;
    }

    /// <summary>The calls in order: "start", "t:&lt;text&gt;", "flush", "end".</summary>
    private sealed class RecordingSink : IChatSink
    {
        public List<string> Calls { get; } = [];

        public Task StartAsync(Chat.Started started, CancellationToken cancellationToken) => Record("start");

        public Task TokenAsync(string text, CancellationToken cancellationToken) => Record("t:" + text);

        public Task FlushAsync(CancellationToken cancellationToken) => Record("flush");

        public Task EndAsync(Chat.Ended ended, CancellationToken cancellationToken) => Record("end");

        public Task ErrorAsync(string code, string message, CancellationToken cancellationToken) => Record("error:" + code);

        private Task Record(string call)
        {
            lock (Calls)
            {
                Calls.Add(call);
            }

            return Task.CompletedTask;
        }
    }
}

/// <summary>finn streams without pauses: every token is sent before the end, no flush is empty.</summary>
public sealed class ChatFlushFastTests(ChatApp app) : ChatFlushTests(app), IClassFixture<ChatApp>
{
    [Fact]
    public async Task Chat_TokensArrivingTogether_AreAllFlushedBeforeTheEndAndNoFlushIsEmpty()
    {
        var calls = await ChatAsync("flush-fast");

        calls[0].ShouldBe("start");
        calls[^1].ShouldBe("end");
        calls[^2].ShouldBe("flush", "the last text is sent before the chat settles");
        var tokens = calls.Count(c => c.StartsWith("t:", StringComparison.Ordinal));
        tokens.ShouldBeGreaterThan(0);
        calls.Count(c => c == "flush").ShouldBeLessThanOrEqualTo(tokens);
        for (var i = 1; i < calls.Count; i++)
        {
            if (calls[i] == "flush")
            {
                calls[i - 1].ShouldStartWith("t:", customMessage: "a flush follows text it has not sent yet");
            }
        }
    }
}

/// <summary>finn pauses 60 ms between tokens: each token is flushed before the chat waits for the next.</summary>
public sealed class SlowFinnChatApp : ChatApp
{
    protected override int TokenDelayMs => 60;
}

public sealed class ChatFlushSlowTests(SlowFinnChatApp app) : ChatFlushTests(app), IClassFixture<SlowFinnChatApp>
{
    [Fact]
    public async Task Chat_FinnPausingBetweenTokens_FlushesEveryTokenBeforeWaiting()
    {
        var calls = await ChatAsync("flush-slow");

        var streamed = calls.Skip(1).SkipLast(1).ToList();
        streamed.Count.ShouldBeGreaterThan(4);
        for (var i = 0; i < streamed.Count; i += 2)
        {
            streamed[i].ShouldStartWith("t:");
            streamed[i + 1].ShouldBe("flush", $"token {i / 2} waited for the next one ({string.Join(", ", streamed)})");
        }
    }
}
