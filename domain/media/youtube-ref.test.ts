import { parseYouTubeVideoRef, youtubeVideoId, youtubeVideoRef, type YouTubeRefProblem } from './youtube-ref';

const ID = 'dQw4w9WgXcQ';

describe('a YouTube video named by a user', () => {
  it.each([
    [ID],
    [`  ${ID}\n`],
    [`https://www.youtube.com/watch?v=${ID}`],
    [`https://youtube.com/watch?v=${ID}`],
    [`http://www.youtube.com/watch?v=${ID}`],
    [`HTTPS://WWW.YOUTUBE.COM/watch?v=${ID}`],
    [`https://www.youtube.com/watch?v=${ID}&t=42s`],
    [`https://www.youtube.com/watch?feature=share&v=${ID}&list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI&index=3`],
    [`https://www.youtube.com/watch/?v=${ID}`],
    [`https://m.youtube.com/watch?v=${ID}`],
    [`https://music.youtube.com/watch?v=${ID}&si=Wl2Ls7oXb1a`],
    [`https://youtu.be/${ID}`],
    [`https://youtu.be/${ID}?si=Wl2Ls7oXb1a_x9&t=10`],
    [`https://youtu.be/${ID}/`],
    [`https://www.youtube.com/shorts/${ID}`],
    [`https://youtube.com/shorts/${ID}?feature=share`],
    [`https://www.youtube.com/embed/${ID}?autoplay=1`],
    [`https://www.youtube.com/live/${ID}?si=abc`],
    [`https://m.youtube.com/shorts/${ID}/`],
    [`https://www.youtube-nocookie.com/embed/${ID}`],
    [`https://youtube-nocookie.com/embed/${ID}?start=30`],
    [`youtu.be/${ID}`],
    [`www.youtube.com/watch?v=${ID}`],
    [`https://www.youtube.com/watch?v=${ID}#t=1m`],
    [`https://www.youtube.com/watch?v=${ID}&v=${ID}`],
  ])('%s is the video %s', (input) => {
    expect(parseYouTubeVideoRef(input)).toEqual({ ok: true, videoId: ID });
  });

  it('keeps the id exactly as written: ids differing in case are different videos', () => {
    expect(parseYouTubeVideoRef('jNQXAC9IVRw')).toEqual({ ok: true, videoId: 'jNQXAC9IVRw' });
    expect(parseYouTubeVideoRef('https://youtu.be/JNQXAC9IVRW')).toEqual({ ok: true, videoId: 'JNQXAC9IVRW' });
    expect(parseYouTubeVideoRef('https://www.youtube.com/shorts/a_b-C_d-E0Z')).toEqual({ ok: true, videoId: 'a_b-C_d-E0Z' });
  });

  it.each<[string, YouTubeRefProblem]>([
    ['', 'EMPTY'],
    ['   ', 'EMPTY'],
    [`${ID}x`, 'NOT_YOUTUBE'], // 12 characters: not an id, and not a link either
    ['dQw4w9WgXc', 'NOT_YOUTUBE'],
    ['dQw4w9WgXc!', 'NOT_YOUTUBE'],
    [`dQw4 w9WgXc`, 'BAD_CHARACTERS'],
    [`https://www.youtube.com/watch?v=${ID} `.repeat(2).trim(), 'BAD_CHARACTERS'],
    [`https://www.youtube.com/watch?v=dQw4w9WgXcQ\u0000`, 'BAD_CHARACTERS'],
    [`https://www.yоutube.com/watch?v=${ID}`, 'BAD_CHARACTERS'], // Cyrillic о
    [`javascript:alert(1)//https://youtu.be/${ID}`, 'NOT_YOUTUBE'],
    [`data:text/html,https://youtu.be/${ID}`, 'NOT_YOUTUBE'],
    [`ftp://youtu.be/${ID}`, 'NOT_YOUTUBE'],
    [`https://vimeo.com/${ID}`, 'NOT_YOUTUBE'],
    [`https://youtube.com.evil.example/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://evilyoutube.com/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://evil.example/?u=https://youtu.be/${ID}`, 'NOT_YOUTUBE'],
    [`https://youtube.com@evil.example/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://user:pass@www.youtube.com/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://www.youtube.com:8443/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://evil.example\\@www.youtube.com/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://gaming.youtube.com/watch?v=${ID}`, 'NOT_YOUTUBE'],
    [`https://youtube-nocookie.com/watch?v=${ID}`, 'NO_VIDEO_ID'],
    ['https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI', 'PLAYLIST_ONLY'],
    ['https://www.youtube.com/watch?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI', 'PLAYLIST_ONLY'],
    ['https://www.youtube.com/@RickAstleyYT', 'NO_VIDEO_ID'],
    ['https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw', 'NO_VIDEO_ID'],
    ['https://www.youtube.com/', 'NO_VIDEO_ID'],
    ['https://www.youtube.com/watch', 'NO_VIDEO_ID'],
    ['https://www.youtube.com/watch?v=', 'NO_VIDEO_ID'],
    ['https://www.youtube.com/watch?v=short', 'NO_VIDEO_ID'],
    [`https://www.youtube.com/watch?v=${ID}&v=jNQXAC9IVRw`, 'NO_VIDEO_ID'],
    [`https://www.youtube.com/watch?v=${ID}extra`, 'NO_VIDEO_ID'],
    [`https://www.youtube.com/shorts/${ID}/more`, 'NO_VIDEO_ID'],
    [`https://www.youtube.com/embed/`, 'NO_VIDEO_ID'],
    [`https://youtu.be/`, 'NO_VIDEO_ID'],
    [`https://youtu.be/${ID}/extra`, 'NO_VIDEO_ID'],
    [`https://youtu.be/watch?v=${ID}`, 'NO_VIDEO_ID'],
    [`https://www.youtube.com/v/${ID}`, 'NO_VIDEO_ID'],
  ])('refuses %j (%s)', (input, problem) => {
    expect(parseYouTubeVideoRef(input)).toEqual({ ok: false, problem });
  });

  it('refuses a link over 512 characters, even a valid one', () => {
    const long = `https://www.youtube.com/watch?v=${ID}&x=${'a'.repeat(600)}`;
    expect(parseYouTubeVideoRef(long)).toEqual({ ok: false, problem: 'TOO_LONG' });
  });
});

describe('the request fields', () => {
  it('parses a link to its id', () => {
    expect(youtubeVideoRef.parse(`https://youtu.be/${ID}?t=3`)).toBe(ID);
  });

  it('refuses with a message saying what a video reference is', () => {
    const result = youtubeVideoRef.safeParse('https://www.youtube.com/playlist?list=PL123');
    expect(result.success).toBe(false);
    expect(result.error!.issues).toEqual([expect.objectContaining({ message: 'a YouTube playlist link: add one of its videos instead' })]);
    expect(youtubeVideoRef.safeParse('https://example.com/').error!.issues[0]!.message).toMatch(/YouTube video link .* or an 11-character video id/);
    expect(youtubeVideoRef.safeParse('x'.repeat(5000)).error!.issues[0]!.message).toBe('at most 512 characters');
    expect(youtubeVideoRef.safeParse(42).success).toBe(false);
  });

  it('takes a bare id as a path parameter, and nothing else', () => {
    expect(youtubeVideoId.parse(ID)).toBe(ID);
    expect(youtubeVideoId.safeParse(`https://youtu.be/${ID}`).success).toBe(false);
    expect(youtubeVideoId.safeParse(`${ID} `).success).toBe(false);
  });
});
