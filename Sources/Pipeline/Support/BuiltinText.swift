/// A few pages of plain English written for this project, used by `autodidact pretrain` when no text
/// file is given. Small enough to learn in a few hundred steps, varied enough that samples show it.
public enum BuiltinText {
    public static let corpus = """
    The keeper of the lighthouse rose before the sun. She climbed the stairs, one hundred and twelve of \
    them, and wiped the salt from the glass. The lamp was warm and the sea was grey. She wrote the time \
    in her book, and the wind, and the number of ships she could see.

    In the spring the birds came back to the cliffs. They built their nests in the cracks of the rock and \
    called to each other all day long. The keeper counted them as she counted the ships: one, two, three, \
    four, five. She did not name them, but she knew them.

    In the summer the village below held a market. There were apples and bread and fish, and a man who \
    sold bright ribbons. The children ran between the stalls and the dogs ran after the children. The \
    keeper walked down the hill to buy oil for the lamp and flour for her bread.

    In the autumn the storms began. The waves rose higher than the harbour wall and the rain came sideways \
    across the water. On those nights the keeper did not sleep. She sat by the lamp and listened to the \
    sea, and when a ship came close to the rocks she rang the bell until her arms were tired.

    In the winter the days were short and the nights were long. Snow lay on the path and the village was \
    quiet. The keeper read books by the stove. She read about mountains and deserts and cities with \
    towers of glass. She had never seen a mountain, but she had seen the sea every day of her life.

    One morning a boy climbed the hill to the lighthouse. He asked the keeper how the lamp worked. She \
    showed him the wick and the oil and the great lens that turned the small flame into a beam that \
    could be seen from far away. The boy asked if the light ever went out. Never, said the keeper. Not \
    while I am here.

    The boy came back the next day, and the day after that. He learned to trim the wick and to clean the \
    glass. He learned to read the clouds and to tell a fishing boat from a ship that carried wheat. He \
    learned to write the time in the book, and the wind, and the number of ships.

    Years passed. The keeper grew old and the boy grew tall. When the keeper could no longer climb the \
    stairs, the boy climbed them for her. He rose before the sun and wiped the salt from the glass. The \
    lamp was warm and the sea was grey.

    A light is a small thing, the keeper told him once. But a small thing, kept well, can be seen from \
    very far away. The boy wrote that in the book too, under the time and the wind and the number of \
    ships.

    Two and two make four. Four and four make eight. Eight and eight make sixteen. The keeper taught the \
    boy to add the ships of the morning to the ships of the evening, and to subtract the ships that \
    turned back. Ten ships came and three turned back, so seven reached the harbour. Twelve ships came \
    and five turned back, so seven reached the harbour again.

    The sea does not care about our numbers, the keeper said. But the people on the ships do. So we \
    count them, and we keep the light, and we write it all down.

    """
}
